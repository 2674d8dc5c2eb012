/**
 * PostgreSQL for benches: DATABASE_URL (default postgres://127.0.0.1:5432/test), fresh
 * schemas per run (dropped afterwards), and samples of what the database is doing.
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import pg from 'pg';

/** The database benches run against, with a user name filled in as libpq would. */
export function benchDatabaseUrl(): string {
  const url = new URL(process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test');
  if (url.username === '') {
    url.username = process.env.PGUSER || process.env.USER || userInfo().username;
  }
  return url.toString();
}

/** Names of a business schema and a metadata schema (created by the store). */
export interface PgSchemas {
  readonly business: string;
  readonly meta: string;
}

export function freshPgSchemas(): PgSchemas {
  const suffix = randomBytes(5).toString('hex');
  return { business: `bench_${suffix}`, meta: `bench_ferry_${suffix}` };
}

/** Runs SQL on a connection of its own. */
export async function pgQuery<T extends Record<string, unknown>>(
  sql: string,
  params?: unknown[],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: benchDatabaseUrl() });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export async function dropPgSchemas(schemas: PgSchemas): Promise<void> {
  await pgQuery(
    `DROP SCHEMA IF EXISTS "${schemas.business}" CASCADE; DROP SCHEMA IF EXISTS "${schemas.meta}" CASCADE`,
  );
}

/** CPU seconds used so far by every `postgres` process on this machine (Linux /proc). */
export function postgresCpuSeconds(): number {
  const ticks = 100; // USER_HZ on Linux
  let total = 0;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const command = stat.slice(stat.indexOf('(') + 1, close);
      if (command !== 'postgres') continue;
      const fields = stat.slice(close + 2).split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / ticks;
    } catch {
      // the process ended meanwhile
    }
  }
  return total;
}

/**
 * Samples pg_stat_activity every `intervalMs` until stopped: the mean number of backends
 * waiting on a lock (wait_event_type 'Lock': row and advisory locks) and of active backends.
 */
export function sampleActivity(intervalMs = 200): () => Promise<{
  lock_waits_avg: number;
  active_avg: number;
  samples: number;
}> {
  const client = new pg.Client({ connectionString: benchDatabaseUrl() });
  client.on('error', () => undefined);
  let samples = 0;
  let lockWaits = 0;
  let active = 0;
  let stopped = false;
  const loop = (async () => {
    await client.connect();
    while (!stopped) {
      const { rows } = await client.query<{ lock_waits: number; active: number }>(
        `SELECT count(*) FILTER (WHERE wait_event_type = 'Lock')::int AS lock_waits,
                count(*) FILTER (WHERE state = 'active')::int - 1 AS active
         FROM pg_stat_activity WHERE datname = current_database()`,
      );
      samples++;
      lockWaits += rows[0]!.lock_waits;
      active += rows[0]!.active;
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    await client.end();
    const round = (x: number) => Math.round(x * 100) / 100;
    return {
      lock_waits_avg: round(lockWaits / Math.max(1, samples)),
      active_avg: round(active / Math.max(1, samples)),
      samples,
    };
  };
}

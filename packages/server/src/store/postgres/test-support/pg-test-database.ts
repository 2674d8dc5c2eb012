/**
 * PostgreSQL for tests: where it is (DATABASE_URL, default postgres://127.0.0.1:5432/test),
 * whether it answers, and a fresh pair of schemas per test so parallel test files never
 * collide. Under CI=true a missing database fails the run; elsewhere the PostgreSQL tests skip
 * with one line saying why.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { describe, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { Schema } from '@ferry/protocol';
import type { ServerStore } from '../../server-store.js';
import {
  createPostgresStore,
  withDefaultUser,
  type PostgresStoreOptions,
} from '../postgres-store.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test';

/** Why PostgreSQL cannot be used, or undefined when it answers. */
export const PG_UNAVAILABLE: string | undefined = await probe();

/** True when the PostgreSQL tests run. */
export const PG_AVAILABLE = PG_UNAVAILABLE === undefined;

let skipNoticePrinted = false;

/**
 * `describe` for tests that need PostgreSQL: runs them when it answers; under CI=true fails
 * when it does not; elsewhere skips them and prints one line saying why.
 */
export function describePg(name: string, fn: () => void): void {
  if (PG_AVAILABLE) {
    describe(name, fn);
    return;
  }
  if (process.env.CI === 'true') {
    describe(name, () => {
      it('needs PostgreSQL (CI=true)', () => {
        throw new Error(`PostgreSQL is required under CI=true: ${PG_UNAVAILABLE}`);
      });
    });
    return;
  }
  if (!skipNoticePrinted) {
    skipNoticePrinted = true;
    console.warn(`skipping PostgreSQL tests: ${DATABASE_URL} ${PG_UNAVAILABLE}`);
  }
  describe.skip(name, fn);
}

/** A pair of fresh schemas: business tables and Ferry metadata. */
export interface TestSchemas {
  readonly business: string;
  readonly meta: string;
  /** Drops both schemas and everything in them. Idempotent. */
  drop(): Promise<void>;
}

/** Names two fresh schemas (created by the store when it opens). */
export function testSchemas(): TestSchemas {
  const suffix = randomBytes(5).toString('hex');
  const business = `t_${suffix}`;
  const meta = `f_${suffix}`;
  return {
    business,
    meta,
    async drop() {
      await adminQuery(
        `DROP SCHEMA IF EXISTS "${business}" CASCADE; DROP SCHEMA IF EXISTS "${meta}" CASCADE`,
      );
    },
  };
}

/** Settings of a plain pg client on the test database (what psql would use). */
export function pgClientConfig(applicationName = 'ferry-test'): pg.ClientConfig {
  return {
    connectionString: withDefaultUser(DATABASE_URL),
    application_name: applicationName,
    connectionTimeoutMillis: 5_000,
  };
}

/** Runs SQL on a connection of its own (as psql would), then disconnects. */
export async function adminQuery(
  sql: string,
  params?: unknown[],
): Promise<Record<string, unknown>[]> {
  const client = new pg.Client(pgClientConfig());
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query(sql, params)).rows as Record<string, unknown>[];
  } finally {
    await client.end();
  }
}

/**
 * Every row of every table of both schemas (business tables and sync metadata), as one
 * comparable string: proves that a rejected request changed nothing.
 */
export async function dumpPgState(schemas: {
  readonly business: string;
  readonly meta: string;
}): Promise<string> {
  const tables = await adminQuery(
    `SELECT table_schema, table_name FROM information_schema.tables
     WHERE table_schema IN ($1, $2) AND table_type = 'BASE TABLE' ORDER BY 1, 2`,
    [schemas.business, schemas.meta],
  );
  const parts = tables.map(({ table_schema: schema, table_name: table }) => {
    const name = `"${String(schema)}"."${String(table)}"`;
    return `'${String(schema)}.${String(table)}', (SELECT coalesce(json_agg(t ORDER BY t::text), '[]') FROM ${name} AS t)`;
  });
  const rows = await adminQuery(`SELECT json_build_object(${parts.join(', ')})::text AS dump`);
  return String(rows[0]!.dump);
}

/** A store on fresh schemas, opened; `cleanup` closes it and drops the schemas. */
export async function openTestStore(
  options: Partial<PostgresStoreOptions> & { schemas?: TestSchemas; schema?: Schema } = {},
): Promise<{ store: ServerStore; schemas: TestSchemas; cleanup: () => Promise<void> }> {
  const schemas = options.schemas ?? testSchemas();
  const store = createPostgresStore({
    connectionString: DATABASE_URL,
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 4 },
    ...options,
  });
  await store.open(options.schema ?? todoSchema);
  return {
    store,
    schemas,
    async cleanup() {
      await store.close();
      await schemas.drop();
    },
  };
}

async function probe(): Promise<string | undefined> {
  const client = new pg.Client(pgClientConfig('ferry-test-probe'));
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `does not answer (${error instanceof Error ? error.message : String(error)})`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

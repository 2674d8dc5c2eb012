/**
 * A schema migration on PostgreSQL under load: a table of 1,000,000 rows (BENCH_MIGRATION_ROWS)
 * of 1,000 users gets a not-null column with a default and a backfill of every row, applied by a
 * second server instance starting with the new version, while the first instance serves pushes of
 * other users (one row each, back to back, two at a time, over HTTP; the backfill touches the
 * existing users' rows, not theirs).
 *
 * Prints the migration's wall time beside plain PostgreSQL doing the same to a copy of the table
 * without Ferry (ALTER TABLE … ADD COLUMN … DEFAULT, then the same UPDATE, one transaction), and
 * the push latencies (p50, p99, max) before and during the migration.
 */
import { randomUUID } from 'node:crypto';
import { defineSchema, schemaHistory } from '@ferry/protocol';
import { createFerryServer, signToken } from '@ferry/server';
import { createPostgresStore } from '@ferry/server/postgres';
import { benchDatabaseUrl, dropPgSchemas, freshPgSchemas, pgQuery } from './support/pg.js';
import { perSecond, report, round, timed } from './support/report.js';

const N = Number(process.env.BENCH_MIGRATION_ROWS ?? 1_000_000);
const USERS = 1_000;
const SECRET = 'bench-secret-of-at-least-32-bytes!!';

const items = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    n: { type: 'integer', notNull: true },
    label: { type: 'text' },
  },
} as const;
const v1 = defineSchema({ version: 1, tables: { items } });
const v2 = defineSchema({
  version: 2,
  tables: {
    items: {
      ...items,
      columns: { ...items.columns, score: { type: 'integer', notNull: true, default: 0 } },
    },
  },
  // The existing users' rows; the pushing users' rows are not the migration's.
  migration: { sql: "UPDATE items SET score = n * 2 WHERE owner_id LIKE 'user-%'" },
});
const history = schemaHistory(v1, v2);

const schemas = freshPgSchemas();
const b = `"${schemas.business}"`;
const m = `"${schemas.meta}"`;
try {
  const serving = createPostgresStore({
    connectionString: benchDatabaseUrl(),
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 8 },
  });
  const server = await createFerryServer({
    schema: v1,
    store: serving,
    auth: { jwtSecret: SECRET },
    logger: false,
    limits: { rateLimit: false },
  });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });

  // The existing rows, loaded the way a backup is restored (triggers off), with their row state.
  await pgQuery(`SET session_replication_role = replica;
INSERT INTO ${b}.items (id, owner_id, n, label)
  SELECT gen_random_uuid(), 'user-' || (i % ${USERS}), i, 'row ' || i FROM generate_series(1, ${N}) AS i;
INSERT INTO ${m}.rows (table_name, pk, owner, row_version, deleted)
  SELECT 'items', id::text, owner_id, 1, false FROM ${b}.items;
CREATE TABLE ${b}.raw_items AS SELECT * FROM ${b}.items;
ALTER TABLE ${b}.raw_items ADD PRIMARY KEY (id);
ANALYZE ${b}.items; ANALYZE ${b}.raw_items;`);

  const baseline = await timed(() =>
    pgQuery(`BEGIN;
ALTER TABLE ${b}.raw_items ADD COLUMN score bigint NOT NULL DEFAULT 0;
UPDATE ${b}.raw_items SET score = n * 2 WHERE owner_id LIKE 'user-%';
COMMIT;`),
  );

  // Pushes of users who own none of the migrated rows, back to back, two at a time.
  const latencies: { at: number; ms: number; ok: boolean }[] = [];
  let pushing = true;
  const pusher = async (worker: number) => {
    const user = `pusher-${worker}`;
    const token = await signToken({ secret: SECRET, userId: user });
    const source = randomUUID();
    for (let bundle = 1; pushing; bundle++) {
      const id = randomUUID();
      const started = performance.now();
      const response = await fetch(`${url}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          protocol: 1,
          sourceId: source,
          sourceBundleId: bundle,
          changes: [
            { table: 'items', pk: id, op: 'upsert', baseVersion: null, row: { id, n: bundle } },
          ],
        }),
      });
      await response.text();
      latencies.push({ at: started, ms: performance.now() - started, ok: response.ok });
      if (!response.ok) bundle--;
    }
  };
  const pushers = [pusher(1), pusher(2)];
  await new Promise((resolve) => setTimeout(resolve, 3_000));

  const migrating = createPostgresStore({
    connectionString: benchDatabaseUrl(),
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 2 },
  });
  const start = performance.now();
  const migration = await timed(() => migrating.open(history));
  const end = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  pushing = false;
  await Promise.all(pushers);
  await migrating.close();
  await server.close();

  const [counted] = await pgQuery<{ bundles: number }>(
    `SELECT count(*)::int AS bundles FROM ${m}.bundles WHERE source_id IS NULL`,
  );
  const before = latencies.filter((l) => l.at < start);
  const during = latencies.filter((l) => l.at >= start && l.at < end);
  report({
    bench: 'pg_migration_add_column_backfill',
    store: 'postgres',
    n: N,
    wall_ms: migration.wallMs,
    rows_per_s: perSecond(N, migration.wallMs),
    raw_wall_ms: baseline.wallMs,
    raw_rows_per_s: perSecond(N, baseline.wallMs),
    ratio_vs_raw: round(baseline.wallMs / migration.wallMs),
    backfill_bundles: counted?.bundles ?? 0,
    pushes_before: before.length,
    push_p50_before_ms: percentile(before, 0.5),
    push_p99_before_ms: percentile(before, 0.99),
    pushes_during: during.length,
    push_failures_during: during.filter((l) => !l.ok).length,
    push_p50_during_ms: percentile(during, 0.5),
    push_p99_during_ms: percentile(during, 0.99),
    push_max_during_ms: round(Math.max(0, ...during.map((l) => l.ms))),
    pushes_over_1s_during: during.filter((l) => l.ms > 1000).length,
  });
} finally {
  await dropPgSchemas(schemas);
}

function percentile(samples: readonly { ms: number }[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = samples.map((s) => s.ms).sort((x, y) => x - y);
  return round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
}

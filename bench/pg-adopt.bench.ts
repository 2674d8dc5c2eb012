/**
 * Adopting a table that plain SQL made: 1,000,000 rows (BENCH_ADOPT_ROWS) of 1,000 users in a
 * table without Ferry, adopted by a store opened with `adopt: true`, while another connection
 * (backend code) writes to the same table back to back: single-row UPDATEs of existing rows and
 * INSERTs of new ones, and a DELETE every tenth round, each statement its own transaction and
 * timed.
 *
 * Prints the adoption's wall time beside plain PostgreSQL writing the same row state in one
 * statement (INSERT … SELECT of every row's key, owner and version into a table shaped like
 * Ferry's, one transaction, no other writer), and the writer's statement times before and
 * during adoption (p50, p99, max): the longest a statement of other code waited on adoption;
 * also split into the setup (check, metadata, capture, indexes: until the first batch of rows
 * ends) and the batches of rows.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { defineSchema } from '@ferry/protocol';
import { createPostgresStore } from '@ferry/server/postgres';
import { benchDatabaseUrl, dropPgSchemas, freshPgSchemas, pgQuery } from './support/pg.js';
import { perSecond, report, round, timed } from './support/report.js';

const N = Number(process.env.BENCH_ADOPT_ROWS ?? 1_000_000);
const USERS = 1_000;
const BATCH = 10_000;

const schema = defineSchema({
  tables: {
    items: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        n: { type: 'integer', notNull: true },
        label: { type: 'text' },
      },
    },
  },
});

const schemas = freshPgSchemas();
const b = `"${schemas.business}"`;
const m = `"${schemas.meta}"`;
try {
  // The table as a backend team made it: plain SQL, an index of its own, its rows.
  await pgQuery(`CREATE SCHEMA ${b};
CREATE TABLE ${b}.items (id uuid PRIMARY KEY, owner_id text NOT NULL, n bigint NOT NULL, label text);
INSERT INTO ${b}.items (id, owner_id, n, label)
  SELECT gen_random_uuid(), 'user-' || (i % ${USERS}), i, 'row ' || i FROM generate_series(1, ${N}) AS i;
ANALYZE ${b}.items;`);

  // Plain PostgreSQL writing the same row state, in one statement, alone.
  await pgQuery(`CREATE TABLE ${b}.raw_rows (table_name text NOT NULL, pk text NOT NULL, owner text NOT NULL,
  row_version bigint NOT NULL, deleted boolean NOT NULL, PRIMARY KEY (table_name, pk))`);
  const baseline = await timed(() =>
    pgQuery(
      `INSERT INTO ${b}.raw_rows SELECT 'items', id::text, owner_id, 1, false FROM ${b}.items`,
    ),
  );
  await pgQuery(`DROP TABLE ${b}.raw_rows`);

  // Backend code writing while the adoption runs: one connection, one statement at a time.
  const sample = (
    await pgQuery<{ id: string }>(
      `SELECT id::text AS id FROM ${b}.items TABLESAMPLE SYSTEM (1) LIMIT 20000`,
    )
  ).map((r) => r.id);
  const writer = new pg.Client({ connectionString: benchDatabaseUrl() });
  await writer.connect();
  const statements: { at: number; ms: number; kind: string }[] = [];
  let writing = true;
  const timedStatement = async (kind: string, sql: string, params: unknown[]) => {
    const at = performance.now();
    await writer.query(sql, params);
    statements.push({ at, ms: performance.now() - at, kind });
  };
  const writeLoop = (async () => {
    for (let i = 0; writing; i++) {
      const id = sample[i % sample.length]!;
      await timedStatement('update', `UPDATE ${b}.items SET n = n + 1 WHERE id = $1`, [id]);
      await timedStatement(
        'insert',
        `INSERT INTO ${b}.items (id, owner_id, n, label) VALUES ($1, $2, $3, 'written during adoption')`,
        [randomUUID(), `user-${i % USERS}`, i],
      );
      if (i % 10 === 9) {
        const victim = sample[(i * 7919) % sample.length]!;
        await timedStatement('delete', `DELETE FROM ${b}.items WHERE id = $1`, [victim]);
      }
    }
  })();
  await new Promise((resolve) => setTimeout(resolve, 2_000));

  const store = createPostgresStore({
    connectionString: benchDatabaseUrl(),
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 2 },
    adopt: true,
    adoptBatchRows: BATCH,
    onEvent: (event) => {
      // The first batch of rows ends the setup (check, metadata, capture, indexes).
      if (event.kind !== 'adopting') return;
      if (event.progress.step === 'rows') rowsFrom ??= performance.now();
      if (event.progress.step === 'users') usersFrom ??= performance.now();
    },
  });
  let rowsFrom: number | undefined;
  let usersFrom: number | undefined;
  const start = performance.now();
  const adoption = await timed(() => store.open(schema));
  const end = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  writing = false;
  await writeLoop;
  await writer.end();
  await store.close();

  // Every row there is has its state, and every state its row.
  const [check] = await pgQuery<{ items: number; states: number; unmatched: number }>(
    `SELECT (SELECT count(*)::int FROM ${b}.items) AS items,
       (SELECT count(*)::int FROM ${m}.rows WHERE NOT deleted) AS states,
       (SELECT count(*)::int FROM ${b}.items AS t WHERE NOT EXISTS (
          SELECT FROM ${m}.rows AS r WHERE r.table_name = 'items' AND r.pk = t.id::text AND NOT r.deleted)) AS unmatched`,
  );
  if (!check || check.items !== check.states || check.unmatched !== 0) {
    throw new Error(`adoption left rows without state: ${JSON.stringify(check)}`);
  }

  const before = statements.filter((s) => s.at < start);
  const during = statements.filter((s) => s.at >= start && s.at < end);
  const inSetup = during.filter((s) => s.at < (rowsFrom ?? end));
  const inRows = during.filter((s) => s.at >= (rowsFrom ?? end));
  report({
    bench: 'pg_adopt_existing_table',
    store: 'postgres',
    n: N,
    wall_ms: adoption.wallMs,
    rows_per_s: perSecond(N, adoption.wallMs),
    batch_rows: BATCH,
    raw_insert_select_ms: baseline.wallMs,
    ratio_vs_raw: round(baseline.wallMs / adoption.wallMs),
    writes_before: before.length,
    write_p50_before_ms: percentile(before, 0.5),
    write_max_before_ms: round(Math.max(0, ...before.map((s) => s.ms))),
    writes_during: during.length,
    write_p50_during_ms: percentile(during, 0.5),
    write_p99_during_ms: percentile(during, 0.99),
    write_max_during_ms: round(Math.max(0, ...during.map((s) => s.ms))),
    write_max_during_by_kind: Object.fromEntries(
      ['update', 'insert', 'delete'].map((kind) => [
        kind,
        round(Math.max(0, ...during.filter((s) => s.kind === kind).map((s) => s.ms))),
      ]),
    ),
    writes_over_100ms_during: during.filter((s) => s.ms > 100).length,
    setup_ms: round((rowsFrom ?? end) - start),
    rows_ms: round((usersFrom ?? end) - (rowsFrom ?? end)),
    write_max_during_setup_ms: round(Math.max(0, ...inSetup.map((s) => s.ms))),
    write_p50_during_rows_ms: percentile(inRows, 0.5),
    write_max_during_rows_ms: round(Math.max(0, ...inRows.map((s) => s.ms))),
  });
} finally {
  await dropPgSchemas(schemas);
}

function percentile(samples: readonly { ms: number }[], p: number): number | null {
  if (samples.length === 0) return null;
  const sorted = samples.map((s) => s.ms).sort((x, y) => x - y);
  return round(sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!);
}

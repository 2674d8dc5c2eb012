import { FerryError, type Schema, type Table } from '@ferry/protocol';
import { checkAdoption, mismatchReport } from './adopt-check.js';
import { indexesToBuild } from './adopt-indexes.js';
import { quoteIdent, quoteLiteral, type PgNames } from './postgres-ddl.js';
import {
  LOCK_TIMEOUT_MS,
  inTransaction,
  retryingLockWaits,
  type MigrationClient,
} from './migration-client.js';
import { readExistingTables } from './read-existing-tables.js';

/** How adoption goes about the rows. */
export interface AdoptRowsOptions {
  /** Rows per batch, each batch its own short transaction (default 10,000). */
  readonly batchRows?: number;
  /** Called after each batch and when a step ends. */
  readonly onProgress?: (progress: AdoptProgress) => void;
}

/** Where an adoption is. */
export type AdoptProgress =
  | { readonly step: 'index'; readonly table: string; readonly index: string }
  | { readonly step: 'rows'; readonly table: string; readonly rows: number }
  | { readonly step: 'users'; readonly users: number };

/** What {@link adoptRows} did. */
export interface AdoptReport {
  /** Rows that got their initial row state, per table. */
  readonly rows: Readonly<Record<string, number>>;
  /** Users whose history got its adoption bundle. */
  readonly users: number;
  /** Indexes built. */
  readonly indexes: readonly string[];
}

/** The version of every adopted row: as if its owner's first bundle had written it. */
export const ADOPTED_ROW_VERSION = 1;

/**
 * Reads the existing tables and throws `adopt_mismatch` (details: `{ mismatches }`) listing
 * every way they do not fit `schema`; reads only, so nothing is changed when it throws.
 */
export async function assertAdoptable(
  client: MigrationClient,
  schema: Schema,
  names: PgNames,
): Promise<void> {
  const existing = await readExistingTables(
    client,
    names.business,
    schema.tables.map((t) => t.name),
  );
  const mismatches = checkAdoption(schema, existing, names.business);
  if (mismatches.length > 0) {
    throw new FerryError('adopt_mismatch', mismatchReport(mismatches, names.business), {
      details: { mismatches },
    });
  }
}

/**
 * Gives the rows of adopted tables the sync state they would have if Ferry had written them, with
 * the capture triggers already installed (so every write committed from then on, by anyone, is
 * captured as usual). Resumable: every step skips what is done, so running it again after an
 * interruption finishes the work. In order, each in short transactions:
 *
 * 1. builds the indexes Ferry gives its tables that are missing (CREATE INDEX CONCURRENTLY:
 *    writes go on meanwhile);
 * 2. per table, in primary key order, `batchRows` rows per transaction (resuming after the last
 *    key of the last batch an interrupted walk committed): every row without a
 *    state gets one (owner, version {@link ADOPTED_ROW_VERSION}, alive). The batch takes FOR KEY
 *    SHARE locks, SKIP LOCKED: an ordinary UPDATE of the row never waits for it, a DELETE or a key
 *    change waits at most for one batch's commit, and a row some transaction is deleting is
 *    skipped (that transaction's capture decides it). A row with a state (written by a captured
 *    write meanwhile) keeps it;
 * 3. per table, rows still without a state (skipped, and their writer rolled back) the same way,
 *    waiting for their locks this time, until none is left;
 * 4. per user who owns a row or has a bundle, in batches of users: the user's next bundle, with no
 *    rows, and the user's history marked pruned through it. A device that pulls from before it
 *    (from 0) gets 410 `history_pruned` and hydrates: the snapshot serves the adopted rows at
 *    version 1, and bundles after it are ordinary history.
 */
export async function adoptRows(
  client: MigrationClient,
  schema: Schema,
  names: PgNames,
  options: AdoptRowsOptions = {},
): Promise<AdoptReport> {
  const batchRows = options.batchRows ?? 10_000;
  if (!Number.isSafeInteger(batchRows) || batchRows < 1) {
    throw new FerryError('invalid_argument', `adoptBatchRows must be a positive integer`);
  }
  const existing = await readExistingTables(
    client,
    names.business,
    schema.tables.map((t) => t.name),
  );
  const built: string[] = [];
  for (const index of indexesToBuild(schema, existing)) {
    const name = quoteIdent(index.name);
    if (index.dropInvalid) {
      await client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${names.b}.${name}`);
    }
    await client.query(
      `CREATE INDEX CONCURRENTLY IF NOT EXISTS ${name} ON ${names.b}.${quoteIdent(index.table)} (${index.columns.map(quoteIdent).join(', ')})`,
    );
    built.push(index.name);
    options.onProgress?.({ step: 'index', table: index.table, index: index.name });
  }

  const rows: Record<string, number> = {};
  for (const table of schema.tables) {
    const sql = backfillSql(table, names, batchRows);
    let adopted = 0;
    // Where an interrupted walk of this table stopped, if one did.
    const saved = await client.query(`SELECT value FROM ${names.m}.meta WHERE key = $1`, [
      cursorKey(table),
    ]);
    let last: string | null = saved.rows.length > 0 ? String(saved.rows[0]!.value) : null;
    for (;;) {
      // One statement: its own short transaction.
      const result = await client.query(
        last === null ? sql.first : sql.next,
        last === null ? [] : [last],
      );
      const row = result.rows[0]!;
      adopted += Number(row.adopted);
      options.onProgress?.({ step: 'rows', table: table.name, rows: adopted });
      if (Number(row.seen) < batchRows) break;
      last = String(row.last);
    }
    for (;;) {
      const result = await retryingLockWaits(() =>
        inTransaction(client, async () => {
          await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
          return client.query(sql.stragglers);
        }),
      );
      const row = result.rows[0]!;
      adopted += Number(row.adopted);
      if (Number(row.seen) === 0) break;
      options.onProgress?.({ step: 'rows', table: table.name, rows: adopted });
    }
    rows[table.name] = adopted;
  }

  const { m } = names;
  // Users an interrupted adoption gave their bundle already are not given a second one.
  const done = await client.query(`SELECT value FROM ${m}.meta WHERE key = $1`, [USERS_CURSOR]);
  const { rows: owners } = await client.query(
    `SELECT u.user_id FROM (SELECT user_id FROM ${m}.users UNION SELECT owner FROM ${m}.rows) AS u
     WHERE $1::text IS NULL OR u.user_id > $1::text ORDER BY 1`,
    [done.rows.length > 0 ? String(done.rows[0]!.value) : null],
  );
  const users = owners.map((r) => String(r.user_id));
  for (let from = 0; from < users.length; from += USERS_PER_BATCH) {
    const batch = users.slice(from, from + USERS_PER_BATCH);
    await retryingLockWaits(() =>
      inTransaction(client, async () => {
        const { rows: made } = await client.query(adoptionBundlesSql(names), [batch]);
        await client.query(
          `UPDATE ${m}.users AS u SET last_token = t.token, pruned_through = t.seq, pruned_token = t.token
           FROM unnest($1::text[], $2::bigint[], $3::text[]) AS t(user_id, seq, token)
           WHERE u.user_id = t.user_id`,
          [
            made.map((r) => r.user_id),
            made.map((r) => String(r.bundle_seq)),
            made.map((r) => r.token),
          ],
        );
        await client.query(
          `INSERT INTO ${m}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
          [USERS_CURSOR, batch.at(-1)],
        );
      }),
    );
    options.onProgress?.({ step: 'users', users: Math.min(users.length, from + batch.length) });
  }
  await client.query(`DELETE FROM ${m}.meta WHERE starts_with(key, $1)`, [CURSOR_PREFIX]);
  return { rows, users: users.length, indexes: built };
}

const USERS_PER_BATCH = 1_000;

/**
 * `meta` keys of the walks: the last key of the last committed batch of each table
 * (`adopting_after:<table>`), and the last user given an adoption bundle
 * (`adopting_after::users`: no table is named with a colon).
 */
const CURSOR_PREFIX = 'adopting_after:';
const USERS_CURSOR = 'adopting_after::users';

function cursorKey(table: Table): string {
  return `${CURSOR_PREFIX}${table.name}`;
}

/**
 * One empty bundle per user of `$1` (the user's next seq, under the lock of the user's sync
 * state, as `seal` allocates it), with its history token computed as `seal` does. Returns
 * `user_id`, `bundle_seq`, `token`.
 */
function adoptionBundlesSql(names: PgNames): string {
  const { m } = names;
  return `WITH server AS (
  SELECT value AS id FROM ${m}.meta WHERE key = 'server_id'
), alloc AS (
  INSERT INTO ${m}.users AS u (user_id, last_seq) SELECT unnest($1::text[]), 1
  ON CONFLICT (user_id) DO UPDATE SET last_seq = u.last_seq + 1
  RETURNING u.user_id, u.last_seq, u.last_token
)
INSERT INTO ${m}.bundles (user_id, bundle_seq, source_id, source_bundle_id, row_count, rows, committed_at, token, digest)
SELECT a.user_id, a.last_seq, NULL, NULL, 0, '[]', now(),
  encode(sha256(convert_to(
    coalesce(a.last_token, encode(sha256(convert_to('ferry-history' || chr(10) || s.id || chr(10) || a.user_id, 'UTF8')), 'hex'))
    || chr(10) || a.last_seq::text || chr(10) || chr(10) || chr(10) || '[]', 'UTF8')), 'hex'),
  NULL
FROM alloc AS a CROSS JOIN server AS s
RETURNING user_id, bundle_seq, token`;
}

/**
 * The statements of step 2 and 3 for one table. `first`/`next` (`$1`: the last key of the
 * previous batch, as text) and `stragglers` each return `last` (the batch's last key as text),
 * `seen` (rows in the batch) and `adopted` (rows that got a state); `first` and `next` also keep
 * `last` in `meta` in the same transaction, where a walk cut off resumes.
 */
function backfillSql(
  table: Table,
  names: PgNames,
  batchRows: number,
): { first: string; next: string; stragglers: string } {
  const { m, b } = names;
  const t = `${b}.${quoteIdent(table.name)}`;
  const pk = quoteIdent(table.primaryKey);
  const owner = quoteIdent(table.owner);
  const pkType = table.column(table.primaryKey)!.type;
  const cast = pkType === 'integer' ? 'bigint' : pkType;
  const name = quoteLiteral(table.name);
  // `l.k`, not `k`: ORDER BY a bare name would sort by the output column `k::text`.
  const statement = (where: string, lock: string, save: boolean) => `WITH batch AS (
  SELECT t.${pk} AS k, t.${owner}::text AS owner FROM ${t} AS t${where}
  ORDER BY t.${pk} LIMIT ${batchRows} ${lock}
), adopted AS (
  INSERT INTO ${m}.rows (table_name, pk, owner, row_version, deleted)
  SELECT ${name}, k::text, owner, ${ADOPTED_ROW_VERSION}, false FROM batch
  ON CONFLICT (table_name, pk) DO NOTHING
  RETURNING 1
)${
    save
      ? `, saved AS (
  INSERT INTO ${m}.meta (key, value)
  SELECT ${quoteLiteral(cursorKey(table))}, l.k::text FROM batch AS l ORDER BY l.k DESC LIMIT 1
  ON CONFLICT (key) DO UPDATE SET value = excluded.value
)`
      : ''
  }
SELECT (SELECT l.k::text FROM batch AS l ORDER BY l.k DESC LIMIT 1) AS last,
  (SELECT count(*) FROM batch)::integer AS seen, (SELECT count(*) FROM adopted)::integer AS adopted`;
  return {
    first: statement('', 'FOR KEY SHARE SKIP LOCKED', true),
    next: statement(` WHERE t.${pk} > $1::${cast}`, 'FOR KEY SHARE SKIP LOCKED', true),
    stragglers: statement(
      ` WHERE NOT EXISTS (SELECT 1 FROM ${m}.rows AS r WHERE r.table_name = ${name} AND r.pk = t.${pk}::text)`,
      'FOR KEY SHARE',
      false,
    ),
  };
}

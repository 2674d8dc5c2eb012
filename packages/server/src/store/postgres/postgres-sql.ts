import type { Schema, Table } from '@ferry/protocol';
import { named, type QueryConfig } from './named-query.js';
import {
  castParam,
  pkJsonSql,
  quoteIdent,
  quoteLiteral,
  rowJsonSql,
  type PgNames,
} from './postgres-ddl.js';

/** The statements of one business table. */
export interface TableSql {
  readonly table: Table;
  /**
   * `$1`: JSON array of whole client rows. Inserts each row the table lacks, and writes only
   * `writes` (a change's `writes`) to each it has, in array order; the counters among them
   * named in `adds` get their current value plus the row's (see `counterWrite`). See
   * {@link upsertQuery}.
   */
  upsert(writes: readonly string[], adds?: readonly string[]): string;
  /** The `writes` of a change that writes every column: its upsert is a named statement. */
  readonly allWrites: string;
  /** `$1`: array of primary keys. */
  readonly remove: string;
  /** `$1`: array of primary keys; rows as `pk_json`, `owner`, `j` (wire JSON text). */
  readonly selectMany: string;
  /** `$1`: pk, `$2`: owner; the row as `j`. */
  readonly selectOwned: string;
  /** `$1`: pk; locks the row and returns its `owner`. */
  readonly lockOwner: string;
  /** `$1`: owner; every row of the user as `j` with its `row_version`, for snapshots. */
  readonly snapshot: string;
  /** Per reference to this table (`child.column`): `$1` parent pks → `parent`, `pk_json`. */
  readonly children: ReadonlyMap<string, string>;
  /**
   * `$1`: a count; that many new values of the primary key's sequence (an identity or serial
   * column) as `key` text, null when the column has none. For keys the server assigns.
   */
  readonly allocateKeys: string;
}

/** Every statement the store runs, generated once per schema. */
export interface StoreSql {
  readonly tables: ReadonlyMap<string, TableSql>;
  readonly lockSource: string;
  readonly head: string;
  readonly userState: string;
  readonly rowStates: string;
  readonly sealPush: string;
  readonly sealWrite: string;
  readonly bundleRows: string;
  readonly pull: string;
  readonly lastSeq: string;
  readonly snapshotHead: string;
  readonly usersToPrune: string;
  readonly markPruned: string;
  readonly orphanedSources: string;
  readonly saveResponse: string;
  readonly oldestBundle: string;
  readonly deleteBundles: string;
  readonly purgeTombstones: string;
  readonly countTombstones: string;
  readonly bumpSeqOutside: string;
}

/** Generates the statements of the store for a schema. */
export function storeSql(schema: Schema, names: PgNames): StoreSql {
  const { m, b } = names;
  const tables = new Map<string, TableSql>();
  for (const table of schema.tables) {
    const t = `${b}.${quoteIdent(table.name)}`;
    const pkColumn = table.column(table.primaryKey)!;
    const pk = quoteIdent(table.primaryKey);
    const owner = quoteIdent(table.owner);
    const written = table.columns.filter((c) => c.serverDerived === undefined);
    const list = written.map((c) => quoteIdent(c.name)).join(', ');
    const upsert = (writes: readonly string[], adds: readonly string[] = []): string => {
      const named = new Set(writes);
      const added = new Set(adds);
      const updates = written
        .filter((c) => !c.isPrimaryKey && named.has(c.name))
        .map((c) => {
          const name = quoteIdent(c.name);
          return added.has(c.name)
            ? `${name} = COALESCE(x.${name}, 0) + excluded.${name}`
            : `${name} = excluded.${name}`;
        });
      // Touch the row even when only its key is written, so the upsert is captured.
      const set = updates.length > 0 ? updates.join(', ') : `${pk} = excluded.${pk}`;
      return `INSERT INTO ${t} AS x (${list}) SELECT ${list} FROM json_populate_recordset(NULL::${t}, $1::json) ON CONFLICT (${pk}) DO UPDATE SET ${set}`;
    };
    const children = new Map<string, string>();
    for (const reference of table.referencedBy) {
      const child = schema.requireTable(reference.childTable);
      const column = quoteIdent(reference.column);
      children.set(
        `${reference.childTable}.${reference.column}`,
        `SELECT c.${column}::text AS parent, ${pkJsonSql(child, 'c')} AS pk_json FROM ${b}.${quoteIdent(child.name)} AS c WHERE c.${column} = ANY(${castParam('$1', pkColumn.type)}[])`,
      );
    }
    tables.set(table.name, {
      table,
      upsert,
      allWrites: writesKey(table.clientColumns.filter((c) => !c.isPrimaryKey).map((c) => c.name)),
      remove: `DELETE FROM ${t} WHERE ${pk} = ANY(${castParam('$1', pkColumn.type)}[])`,
      selectMany: `SELECT ${pkJsonSql(table, 't')} AS pk_json, t.${owner}::text AS owner, ${rowJsonSql(table, 't')} AS j FROM ${t} AS t WHERE t.${pk} = ANY(${castParam('$1', pkColumn.type)}[])`,
      selectOwned: `SELECT ${rowJsonSql(table, 't')} AS j FROM ${t} AS t WHERE t.${pk} = ${castParam('$1', pkColumn.type)} AND t.${owner} = $2`,
      lockOwner: `SELECT t.${owner}::text AS owner FROM ${t} AS t WHERE t.${pk} = ${castParam('$1', pkColumn.type)} FOR UPDATE`,
      // A correlated lookup per row rather than a join: the plan stays an index probe per row
      // even before the tables have statistics (a fresh join plan can go quadratic).
      snapshot: `SELECT s.j, s.row_version FROM (SELECT ${rowJsonSql(table, 't')} AS j, (SELECT r.row_version FROM ${m}.rows AS r WHERE r.table_name = ${quoteLiteral(table.name)} AND r.pk = t.${pk}::text) AS row_version FROM ${t} AS t WHERE t.${owner} = $1) AS s WHERE s.row_version IS NOT NULL`,
      children,
      allocateKeys: `SELECT nextval(pg_get_serial_sequence(${quoteLiteral(t)}, ${quoteLiteral(table.primaryKey)}))::text AS key FROM generate_series(1, $1::integer)`,
    });
  }

  return {
    tables,
    // Locks the source's row (created on its first push) for the rest of the transaction, so
    // retries of one source never race; returns its state, the user's pull horizon and the
    // tokens a sync's cursor (`$3`, null for a push) and a push's `basesAt` (`$4`) are checked
    // against.
    lockSource: `WITH src AS (
  INSERT INTO ${m}.sources AS s (user_id, source_id, last_committed, bundle_seq) VALUES ($1, $2, 0, 0)
  ON CONFLICT (user_id, source_id) DO UPDATE SET last_committed = s.last_committed
  RETURNING s.last_committed, s.bundle_seq, s.response, s.digest
)
SELECT src.last_committed, src.bundle_seq, src.response, src.digest,
  coalesce(u.last_seq, 0) AS last_seq, coalesce(u.pruned_through, 0) AS pruned_through,
  u.pruned_token,
  (SELECT b.token FROM ${m}.bundles AS b WHERE b.user_id = $1 AND b.bundle_seq = $3::bigint) AS after_token,
  (SELECT b.token FROM ${m}.bundles AS b WHERE b.user_id = $1 AND b.bundle_seq = $4::bigint) AS bases_token
FROM src LEFT JOIN ${m}.users AS u ON u.user_id = $1`,
    head: `SELECT last_seq, last_token FROM ${m}.users WHERE user_id = $1`,
    userState: `SELECT last_seq, pruned_through FROM ${m}.users WHERE user_id = $1`,
    // An index probe per key (OFFSET 0 keeps the planner from turning it into a join that,
    // with stale statistics, scans the whole table on every push).
    rowStates: `SELECT r.table_name, r.pk, r.owner, r.row_version, r.deleted
FROM unnest($1::text[], $2::text[]) AS k(table_name, pk)
CROSS JOIN LATERAL (
  SELECT x.table_name, x.pk, x.owner, x.row_version, x.deleted FROM ${m}.rows AS x
  WHERE x.table_name = k.table_name AND x.pk = k.pk OFFSET 0
) AS r`,
    // Seals the push's bundle(s) and records the source's last committed id in one statement.
    sealPush: `WITH sealed AS (
  SELECT * FROM ${m}.seal($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
), recorded AS (
  UPDATE ${m}.sources SET last_committed = $3, bundle_seq = (SELECT out_seq FROM sealed WHERE out_user = $1), response = NULL, digest = $12
  WHERE user_id = $1 AND source_id = $2
)
SELECT out_user, out_seq, out_count, out_rows, out_origin, out_token FROM sealed`,
    sealWrite: `SELECT out_user, out_seq, out_count, out_origin FROM ${m}.seal(NULL, NULL, NULL, $1, $2, NULL, NULL, NULL, NULL, NULL, NULL, NULL)`,
    bundleRows: `SELECT rows, row_count, token, schema_version FROM ${m}.bundles WHERE user_id = $1 AND bundle_seq = $2`,
    // One statement, so one snapshot: the horizon, the tokens the cursor is checked against and
    // the bundles under it agree even while pruning deletes. A page is the longest run of
    // bundles whose rows fit the limit, and at least one bundle.
    pull: `WITH u AS (SELECT last_seq, pruned_through, pruned_token FROM ${m}.users WHERE user_id = $1)
SELECT coalesce((SELECT last_seq FROM u), 0) AS last_seq,
  coalesce((SELECT pruned_through FROM u), 0) AS pruned_through,
  (SELECT pruned_token FROM u) AS pruned_token,
  (SELECT a.token FROM ${m}.bundles AS a WHERE a.user_id = $1 AND a.bundle_seq = $2::bigint) AS after_token,
  w.bundle_seq, w.source_id, w.source_bundle_id, w.row_count, w.rows, w.token, w.digest, w.schema_version
FROM (SELECT 1) AS one
LEFT JOIN LATERAL (
  SELECT x.bundle_seq, x.source_id, x.source_bundle_id, x.row_count, x.rows, x.token, x.digest, x.schema_version FROM (
    SELECT b.bundle_seq, b.source_id, b.source_bundle_id, b.row_count, b.rows, b.token, b.digest, b.schema_version,
      sum(b.row_count) OVER (ORDER BY b.bundle_seq ROWS UNBOUNDED PRECEDING) AS cum,
      row_number() OVER (ORDER BY b.bundle_seq) AS n
    FROM ${m}.bundles AS b, u
    WHERE b.user_id = $1 AND b.bundle_seq > $2::bigint AND b.bundle_seq <= u.last_seq
      AND $2::bigint >= u.pruned_through
    ORDER BY b.bundle_seq
    LIMIT $3::integer + 1
  ) AS x WHERE x.cum <= $3::integer OR x.n = 1
) AS w ON true
ORDER BY w.bundle_seq`,
    lastSeq: `SELECT last_seq, last_token FROM ${m}.users WHERE user_id = $1`,
    snapshotHead: `SELECT u.last_seq, u.last_token, u.pruned_through, u.pruned_token,
  (SELECT a.token FROM ${m}.bundles AS a WHERE a.user_id = $1 AND a.bundle_seq = $2::bigint) AS after_token
FROM ${m}.users AS u WHERE u.user_id = $1`,
    usersToPrune: `SELECT u.user_id, u.last_seq, u.pruned_through,
  CASE WHEN $3::timestamptz IS NULL THEN NULL ELSE (
    SELECT max(b.bundle_seq) FROM ${m}.bundles AS b WHERE b.user_id = u.user_id AND b.committed_at < $3::timestamptz
  ) END AS newest_expired
FROM ${m}.users AS u WHERE u.user_id > $1 ORDER BY u.user_id LIMIT $2`,
    // The boundary keeps its bundle's token, so a cursor at it can still be verified.
    markPruned: `UPDATE ${m}.users AS u SET pruned_through = $2,
  pruned_token = (SELECT b.token FROM ${m}.bundles AS b WHERE b.user_id = $1 AND b.bundle_seq = $2)
WHERE u.user_id = $1 AND u.pruned_through < $2`,
    orphanedSources: `SELECT s.source_id, s.last_committed, s.bundle_seq, b.rows, b.token, b.schema_version
FROM ${m}.sources AS s JOIN ${m}.bundles AS b ON b.user_id = s.user_id AND b.bundle_seq = s.bundle_seq
WHERE s.user_id = $1 AND s.bundle_seq <= $2 AND s.response IS NULL`,
    saveResponse: `UPDATE ${m}.sources SET response = $4
WHERE user_id = $1 AND source_id = $2 AND bundle_seq = $3 AND response IS NULL`,
    oldestBundle: `SELECT min(bundle_seq) AS oldest FROM ${m}.bundles WHERE user_id = $1`,
    deleteBundles: `DELETE FROM ${m}.bundles WHERE user_id = $1 AND bundle_seq >= $2 AND bundle_seq <= $3`,
    purgeTombstones: `DELETE FROM ${m}.rows WHERE owner = $1 AND deleted AND row_version <= $2`,
    countTombstones: `SELECT count(*)::int AS n FROM ${m}.rows WHERE deleted`,
    bumpSeqOutside: `INSERT INTO ${m}.users AS u (user_id, last_seq) VALUES ($1, 1)
ON CONFLICT (user_id) DO UPDATE SET last_seq = u.last_seq + 1 RETURNING u.last_seq`,
  };
}

/** The cache key of a change's `writes` (and the counters it adds to). */
export function writesKey(writes: readonly string[], adds: readonly string[] = []): string {
  const key = writes.join('\u0000');
  return adds.length === 0 ? key : `${key}\u0001${adds.join('\u0000')}`;
}

/**
 * The query that upserts `rows` (all with the same `writes`): a named statement when they write
 * every column (the common shape, planned once per connection), else a one-off statement, so a
 * client sending many column sets cannot grow the connection's prepared statements.
 */
export function upsertQuery(
  statements: TableSql,
  writes: readonly string[],
  rows: readonly unknown[],
  adds: readonly string[] = [],
): QueryConfig {
  const values = [JSON.stringify(rows)];
  const text = statements.upsert(writes, adds);
  return writesKey(writes, adds) === statements.allWrites ? named(text, values) : { text, values };
}

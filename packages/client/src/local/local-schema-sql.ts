import { sqliteTypeOf, toSqliteValue, type Schema, type Table } from '@ferry/protocol';

/** Version of the client metadata layout in `ferry_state.format`. */
export const METADATA_FORMAT = 1;

/**
 * The client's metadata tables (all `ferry_`-prefixed, in the app's SQLite file). Documented in
 * docs/client.md.
 *
 * - `ferry_state`: key/value: sourceId (and the first one, before any rotation), next
 *   sourceBundleId, checkpoint and the server's history token of it, the server's identity,
 *   userId, schema fingerprint, whether a hydration is due.
 * - `ferry_capture`: one row; `applying = 1` only inside a transaction that applies server data,
 *   so the capture triggers skip it. Set and reset in the same transaction: a crash rolls both
 *   back and can never leave capture off.
 * - `ferry_log`: what the triggers append, in commit order: `(tbl, pk, op)` with op I/U/D, plus
 *   a `B` marker (with the wall time `at`) at the start of every `client.write`, which groups a
 *   write's changes. Append-only, so a local write costs one extra row on a hot page.
 * - `ferry_outbox`: the log folded: one coalesced pending entry per row (`op` I/U/D), with the
 *   write groups it spans and, when a remote change moved the row's base under it, the pinned
 *   base it was made on. Indexed in push order (an index that covers every column), so a freeze
 *   reads only the entries it takes, without a lookup into the table.
 * - `ferry_cancelled`: rows whose insert was folded away by a delete before any push took it
 *   (`I` then `D`: nothing to push), with the first bundle id frozen after that (`mark`). A file
 *   restored from a backup, or copied, may have had that insert pushed by the install it was
 *   then (see `local/cancelled-inserts.ts`): the journal turns such rows into pending deletes
 *   when a bundle of our source id that is not ours brings them or the source id rotates; a
 *   commit of bundle `mark` or later under the same source, or a new write of the row, clears
 *   them.
 * - `ferry_rows`: the server state of each synced row: `rowVersion`, tombstone flag and the
 *   last-synced copy (the base of three-way merges). Tombstones at or below the server's pruned
 *   floor are forgotten (`forgetTombstonesThrough`), as the server forgot them.
 * - `ferry_bundle` + `ferry_inflight`: the frozen bundle in flight (at most one), with the source
 *   it belongs to (a rotation of the source id leaves a committed bundle under the old one), and
 *   its changes, stored before the request is sent so a resend is the exact same bundle.
 * - `ferry_committed`: once the server said the bundle in flight committed, its rows as they
 *   committed (version and authoritative row) until the bundle is settled: the base of edits
 *   made on them meanwhile.
 * - `ferry_dead_letters`: changes the server rejected for good, with its error.
 * - `ferry_conflicts`: manual conflicts with the local, base and server rows.
 * - `ferry_settled_conflicts`: the journal of values conflict policies replaced (one entry per
 *   row and losing side: the columns, the values that lost and won, the rule, when), written in
 *   the transaction that settles the conflict and pruned there to the newest
 *   `maxSettledConflicts`. AUTOINCREMENT keeps ids rising after a clear, so an id is a cursor.
 *   Created like every table here, `IF NOT EXISTS` at every open: a file of an older client
 *   gets it on its next open without a format change (older clients ignore it).
 * - `ferry_key_map`: on tables whose keys the server assigns, each temporary key a row of this
 *   file was inserted under, with the server's key for it and the bundle whose answer assigned
 *   it: writes that still name the temporary key reach the row, and that bundle is sent again
 *   as it was pushed. Created `IF NOT EXISTS` at every open, like the journal.
 * - `ferry_intent`: a view of every row that has local intent (pending, in flight, dead-lettered
 *   or in a manual conflict): rows server data must not overwrite.
 */
export const METADATA_SQL = `
CREATE TABLE IF NOT EXISTS ferry_state (key TEXT PRIMARY KEY NOT NULL, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_capture (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  applying INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO ferry_capture (id, applying) VALUES (1, 0);
CREATE TABLE IF NOT EXISTS ferry_log (
  seq INTEGER PRIMARY KEY,
  tbl TEXT,
  pk,
  op TEXT NOT NULL,
  at INTEGER
);
CREATE TABLE IF NOT EXISTS ferry_outbox (
  tbl TEXT NOT NULL,
  pk NOT NULL,
  op TEXT NOT NULL,
  first_group INTEGER NOT NULL,
  last_group INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  pinned INTEGER NOT NULL DEFAULT 0,
  pin_version INTEGER,
  pin_base TEXT,
  PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ferry_outbox_push_order
  ON ferry_outbox (last_group, first_group);
CREATE TABLE IF NOT EXISTS ferry_cancelled (
  tbl TEXT NOT NULL,
  pk NOT NULL,
  mark INTEGER NOT NULL,
  PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_rows (
  tbl TEXT NOT NULL,
  pk NOT NULL,
  version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  base TEXT,
  PRIMARY KEY (tbl, pk)
);
CREATE INDEX IF NOT EXISTS ferry_rows_tombstones ON ferry_rows (version) WHERE deleted = 1;
CREATE TABLE IF NOT EXISTS ferry_bundle (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  source_id TEXT,
  source_bundle_id INTEGER NOT NULL,
  frozen_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  committed_seq INTEGER
);
CREATE TABLE IF NOT EXISTS ferry_inflight (
  ord INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk NOT NULL,
  letter TEXT NOT NULL,
  op TEXT NOT NULL,
  base_version INTEGER,
  base TEXT,
  row TEXT,
  first_group INTEGER NOT NULL,
  last_group INTEGER NOT NULL,
  first_at INTEGER NOT NULL,
  conflicts INTEGER NOT NULL DEFAULT 0,
  UNIQUE (tbl, pk)
);
CREATE TABLE IF NOT EXISTS ferry_committed (
  tbl TEXT NOT NULL,
  pk NOT NULL,
  version INTEGER NOT NULL,
  row TEXT,
  PRIMARY KEY (tbl, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_dead_letters (
  id INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk NOT NULL,
  letter TEXT NOT NULL,
  op TEXT NOT NULL,
  base_version INTEGER,
  base TEXT,
  row TEXT,
  first_at INTEGER NOT NULL,
  code TEXT NOT NULL,
  message TEXT NOT NULL,
  status INTEGER,
  source_bundle_id INTEGER,
  at INTEGER NOT NULL,
  UNIQUE (tbl, pk)
);
CREATE TABLE IF NOT EXISTS ferry_conflicts (
  id INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk NOT NULL,
  op TEXT NOT NULL,
  local TEXT,
  base TEXT,
  server TEXT,
  base_version INTEGER,
  server_version INTEGER,
  server_deleted INTEGER NOT NULL,
  reason TEXT NOT NULL,
  first_at INTEGER NOT NULL,
  at INTEGER NOT NULL,
  UNIQUE (tbl, pk)
);
CREATE TABLE IF NOT EXISTS ferry_settled_conflicts (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  tbl TEXT NOT NULL,
  pk NOT NULL,
  rule TEXT NOT NULL,
  loser TEXT NOT NULL,
  columns TEXT NOT NULL,
  lost TEXT,
  won TEXT,
  server_version INTEGER,
  source_bundle_id INTEGER NOT NULL,
  at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_key_map (
  tbl TEXT NOT NULL,
  temp NOT NULL,
  pk NOT NULL,
  source_id TEXT,
  source_bundle_id INTEGER,
  at INTEGER NOT NULL,
  PRIMARY KEY (tbl, temp)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ferry_key_map_bundle ON ferry_key_map (source_id, source_bundle_id);
CREATE VIEW IF NOT EXISTS ferry_intent (tbl, pk, kind) AS
  SELECT tbl, pk, 'pending' FROM ferry_outbox
  UNION ALL SELECT tbl, pk, 'inflight' FROM ferry_inflight
  UNION ALL SELECT tbl, pk, 'dead' FROM ferry_dead_letters
  UNION ALL SELECT tbl, pk, 'conflict' FROM ferry_conflicts;
`;

/** Quotes an SQL identifier. Schema names are validated lower-case identifiers already. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** A string literal for SQL text (used for table names inside trigger bodies). */
export function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * `CREATE TABLE IF NOT EXISTS` for a synced table, mirroring the schema: the primary key, not-null
 * rules (except the owner column and server-derived columns, which the server fills), defaults,
 * and references as deferred foreign keys with the declared `ON DELETE` action.
 */
export function createTableSql(table: Table): string {
  const columns = table.columns.map((column) => columnSql(table, column.name));
  return `CREATE TABLE IF NOT EXISTS ${quoteIdent(table.name)} (\n  ${columns.join(',\n  ')}\n)`;
}

/** The definition of one column, for `CREATE TABLE` and `ALTER TABLE … ADD COLUMN`. */
export function columnSql(table: Table, name: string): string {
  const column = table.column(name)!;
  let sql = `${quoteIdent(column.name)} ${sqliteTypeOf(column.type)}`;
  if (column.isPrimaryKey) return `${sql} NOT NULL PRIMARY KEY`;
  if (column.notNull && !column.isOwner && column.serverDerived === undefined) sql += ' NOT NULL';
  if (column.default !== undefined && column.default !== null) {
    sql += ` DEFAULT ${literalOf(toSqliteValue(column.type, column.default))}`;
  }
  const reference = column.reference;
  if (reference) {
    const action =
      reference.onDelete === 'cascade'
        ? ' ON DELETE CASCADE'
        : reference.onDelete === 'set null'
          ? ' ON DELETE SET NULL'
          : '';
    sql += ` REFERENCES ${quoteIdent(reference.parentTable)}(${quoteIdent(reference.parentColumn)})${action} DEFERRABLE INITIALLY DEFERRED`;
  }
  return sql;
}

/** Indexes on reference columns: the integrity gate and local cascades look children up by them. */
export function referenceIndexSql(table: Table): string[] {
  return table.references.map(
    (reference) =>
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`ferry_ref_${table.name}_${reference.column}`)} ON ${quoteIdent(table.name)}(${quoteIdent(reference.column)})`,
  );
}

/**
 * The capture triggers of a table: every insert, update and delete that is not an apply of
 * server data appends `(table, pk, op)` to `ferry_log` in the same transaction. An update that
 * changes no column is not captured; one that changes the primary key is a delete of the old
 * key and an insert of the new one. On an append-only table an update is refused (`append_only`);
 * on an integer-keyed table whose keys the server assigns, an insert of a new row under a key
 * that is not temporary (negative) is refused (`temporary_key`).
 */
export function captureTriggersSql(table: Table): string[] {
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.primaryKey);
  const name = quoteLiteral(table.name);
  const prefix = `ferry_capture_${table.name}`;
  const notApplying = '(SELECT applying FROM ferry_capture WHERE id = 1) = 0';
  const changed = table.columns
    .filter((c) => !c.isPrimaryKey)
    .map((c) => `OLD.${quoteIdent(c.name)} IS NOT NEW.${quoteIdent(c.name)}`);
  const anyChange = changed.length > 0 ? `(${changed.join(' OR ')})` : '0';
  return [
    `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_insert`)} AFTER INSERT ON ${t}
WHEN ${notApplying}
BEGIN
  INSERT INTO ferry_log (tbl, pk, op) VALUES (${name}, NEW.${pk}, 'I');
END`,
    `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_update`)} AFTER UPDATE ON ${t}
WHEN ${notApplying} AND OLD.${pk} IS NEW.${pk} AND ${anyChange}
BEGIN
  INSERT INTO ferry_log (tbl, pk, op) VALUES (${name}, NEW.${pk}, 'U');
END`,
    `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_rekey`)} AFTER UPDATE ON ${t}
WHEN ${notApplying} AND OLD.${pk} IS NOT NEW.${pk}
BEGIN
  INSERT INTO ferry_log (tbl, pk, op) VALUES (${name}, OLD.${pk}, 'D');
  INSERT INTO ferry_log (tbl, pk, op) VALUES (${name}, NEW.${pk}, 'I');
END`,
    `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_delete`)} AFTER DELETE ON ${t}
WHEN ${notApplying}
BEGIN
  INSERT INTO ferry_log (tbl, pk, op) VALUES (${name}, OLD.${pk}, 'D');
END`,
    ...(table.appendOnly
      ? [
          // The server refuses a device's update of such a row: refused here, at the write.
          `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_append_only`)} BEFORE UPDATE ON ${t}
WHEN ${notApplying} AND ${anyChange}
BEGIN
  SELECT RAISE(ABORT, ${quoteLiteral(`append_only: ${table.name} is append-only: insert and delete its rows, never update them`)});
END`,
        ]
      : []),
    ...(table.serverKeys && table.column(table.primaryKey)!.type === 'integer'
      ? [
          // A new row takes a temporary key (negative): a key the server never gave this file
          // would be refused by the server (`temporary_key`); refused here, at the write.
          `CREATE TRIGGER IF NOT EXISTS ${quoteIdent(`${prefix}_temporary_key`)} BEFORE INSERT ON ${t}
WHEN ${notApplying} AND NEW.${pk} >= 0 AND NOT EXISTS (SELECT 1 FROM ferry_rows WHERE tbl = ${name} AND pk = NEW.${pk})
BEGIN
  SELECT RAISE(ABORT, ${quoteLiteral(`temporary_key: ${table.name}'s keys are assigned by the server: insert a new row under a temporary key (leave the key out of tx.insert, or use client.temporaryKey)`)});
END`,
        ]
      : []),
  ];
}

/** Drops the capture triggers of a table (before re-creating them for a changed schema). */
export function dropCaptureTriggersSql(tableName: string): string[] {
  return ['insert', 'update', 'rekey', 'delete', 'append_only', 'temporary_key'].map(
    (kind) => `DROP TRIGGER IF EXISTS ${quoteIdent(`ferry_capture_${tableName}_${kind}`)}`,
  );
}

/** Every statement that sets up a fresh file for `schema` (idempotent). */
export function localSchemaSql(schema: Schema): string[] {
  const statements: string[] = [];
  for (const table of schema.tables) {
    statements.push(createTableSql(table), ...referenceIndexSql(table));
  }
  return statements;
}

function literalOf(value: string | number | bigint | Buffer | null): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return quoteLiteral(value);
  return `X'${value.toString('hex')}'`;
}

/**
 * Temp tables of the connection: the gate's touched rows, the snapshot staging area, and the
 * keys a remap to server keys moves (`remap-keys.ts`), staged for its set-based statements.
 */
export const TEMP_TABLES_SQL = `
CREATE TEMP TABLE IF NOT EXISTS ferry_touched (tbl TEXT NOT NULL, pk NOT NULL, op TEXT NOT NULL);
CREATE TEMP TABLE IF NOT EXISTS ferry_snapshot (
  seq INTEGER PRIMARY KEY,
  tbl TEXT NOT NULL,
  pk NOT NULL,
  version INTEGER NOT NULL,
  row TEXT NOT NULL,
  op TEXT NOT NULL DEFAULT 'u'
);
CREATE INDEX IF NOT EXISTS temp.ferry_snapshot_key ON ferry_snapshot (tbl, pk);
CREATE TEMP TABLE IF NOT EXISTS ferry_remap (
  tbl TEXT NOT NULL,
  temp NOT NULL,
  src NOT NULL,
  pk NOT NULL,
  PRIMARY KEY (tbl, src)
);
`;

import {
  sqliteMigrationStatements,
  sqliteTypeOf,
  toSqliteValue,
  type Column,
  type Schema,
  type SqliteValue,
  type SqliteMigrationSql,
  type SqliteMigrationTarget,
  type Table,
  type VersionMigration,
} from '@ferry/protocol';

/**
 * Version of the ferry_* metadata layout, kept in ferry_meta.
 *
 * 1. The first layout.
 * 2. History tokens (`ferry_bundles.token`, `ferry_users.last_token` / `pruned_token`), bundle
 *    digests (`ferry_bundles.digest`, `ferry_sources.digest`) and the database's `server_id`
 *    in ferry_meta. A version 1 file gets the columns added in place ({@link METADATA_UPGRADES});
 *    its older bundles keep null tokens and digests.
 * 3. Schema versions: `ferry_bundles.schema_version` (the schema version a bundle's rows are
 *    in; null for bundles written before versions, in the shape of the one schema the file had
 *    then), `ferry_schema_versions` (the versions the file went through) and `schema_version`
 *    in ferry_meta.
 */
export const SQLITE_METADATA_VERSION = '3';

/**
 * The sync metadata tables. `pk` columns are declared BLOB so SQLite keeps each key's type as
 * given (a text key stays text, an integer key stays an integer). ferry_meta holds
 * `schema_fingerprint`, `metadata_version` and `server_id`. ferry_keys holds the last key handed
 * out for each integer-keyed table whose keys the server assigns (created at every open, so an
 * older file gets it without a layout change).
 */
export const METADATA_DDL = `
CREATE TABLE IF NOT EXISTS ferry_meta (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_users (
  user_id TEXT NOT NULL PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  pruned_through INTEGER NOT NULL DEFAULT 0,
  last_token TEXT,
  pruned_token TEXT
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_rows (
  table_name TEXT NOT NULL,
  pk BLOB NOT NULL,
  owner TEXT NOT NULL,
  row_version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY (table_name, pk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ferry_rows_tombstones ON ferry_rows (owner, row_version) WHERE deleted = 1;
CREATE TABLE IF NOT EXISTS ferry_bundles (
  user_id TEXT NOT NULL,
  bundle_seq INTEGER NOT NULL,
  source_id TEXT,
  source_bundle_id INTEGER,
  row_count INTEGER NOT NULL,
  rows TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  token TEXT,
  digest TEXT,
  schema_version INTEGER,
  PRIMARY KEY (user_id, bundle_seq)
);
CREATE TABLE IF NOT EXISTS ferry_sources (
  user_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  last_committed INTEGER NOT NULL,
  bundle_seq INTEGER NOT NULL,
  response TEXT,
  digest TEXT,
  PRIMARY KEY (user_id, source_id)
);
CREATE TABLE IF NOT EXISTS ferry_schema_versions (
  version INTEGER NOT NULL PRIMARY KEY,
  fingerprint TEXT NOT NULL,
  how TEXT NOT NULL,
  applied_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ferry_keys (
  table_name TEXT NOT NULL PRIMARY KEY,
  last INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_capture (
  seq INTEGER PRIMARY KEY,
  table_name TEXT NOT NULL,
  pk BLOB NOT NULL,
  owner TEXT,
  op TEXT NOT NULL
);
`;

/**
 * Columns that later layouts added to the tables of {@link METADATA_DDL}: a file made with an
 * older layout gets each one that it lacks (`ALTER TABLE … ADD COLUMN`, nullable).
 */
export const METADATA_UPGRADES: readonly {
  readonly table: string;
  readonly column: string;
  readonly type: 'TEXT' | 'INTEGER';
}[] = [
  { table: 'ferry_users', column: 'last_token', type: 'TEXT' },
  { table: 'ferry_users', column: 'pruned_token', type: 'TEXT' },
  { table: 'ferry_bundles', column: 'token', type: 'TEXT' },
  { table: 'ferry_bundles', column: 'digest', type: 'TEXT' },
  { table: 'ferry_sources', column: 'digest', type: 'TEXT' },
  { table: 'ferry_bundles', column: 'schema_version', type: 'INTEGER' },
];

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An SQL literal for a stored value. */
export function sqlLiteral(value: SqliteValue): string {
  if (value === null) return 'NULL';
  if (typeof value === 'number' || typeof value === 'bigint') return String(value);
  if (typeof value === 'string') return `'${value.replaceAll("'", "''")}'`;
  return `X'${value.toString('hex')}'`;
}

/**
 * DDL of one business table: real columns with NOT NULL and DEFAULT, the primary key, foreign
 * keys (deferred, with the schema's ON DELETE action; `restrict` becomes NO ACTION so that a
 * bundle may delete a child and its parent in any order and the check runs at commit), indexes
 * on the owner and reference columns, and the capture triggers.
 */
export function businessTableDdl(table: Table): string {
  const t = quoteIdent(table.name);
  const columns = table.columns.map((column) =>
    columnDdl(column, column.isPrimaryKey && table.serverKeys && column.type === 'integer'),
  );
  const statements = [`CREATE TABLE IF NOT EXISTS ${t} (\n  ${columns.join(',\n  ')}\n)`];
  statements.push(
    `CREATE INDEX IF NOT EXISTS ${quoteIdent(`ferry_idx_${table.name}_${table.owner}`)} ON ${t} (${quoteIdent(table.owner)})`,
  );
  for (const reference of table.references) {
    statements.push(
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(`ferry_idx_${table.name}_${reference.column}`)} ON ${t} (${quoteIdent(reference.column)})`,
    );
  }
  statements.push(...captureTriggersDdl(table));
  return statements.join(';\n') + ';';
}

/** DDL of every business table of a schema, parents first. */
export function schemaDdl(schema: Schema): string {
  return schema.tables.map((table) => businessTableDdl(table)).join('\n');
}

/**
 * Triggers that record every row a statement touches in ferry_capture, in the same
 * transaction, whoever runs the statement (a push, backend code, or another process).
 * An update that changes the key or the owner records the old identity too.
 */
export function captureTriggersDdl(table: Table): string[] {
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.primaryKey);
  const owner = quoteIdent(table.owner);
  const name = sqlLiteral(table.name);
  const trigger = (suffix: string) => quoteIdent(`ferry_capture_${table.name}_${suffix}`);
  return [
    `CREATE TRIGGER IF NOT EXISTS ${trigger('insert')} AFTER INSERT ON ${t} BEGIN
  INSERT INTO ferry_capture (table_name, pk, owner, op) VALUES (${name}, NEW.${pk}, NEW.${owner}, 'insert');
END`,
    `CREATE TRIGGER IF NOT EXISTS ${trigger('update')} AFTER UPDATE ON ${t} BEGIN
  INSERT INTO ferry_capture (table_name, pk, owner, op) VALUES (${name}, NEW.${pk}, NEW.${owner}, 'update');
  INSERT INTO ferry_capture (table_name, pk, owner, op) SELECT ${name}, OLD.${pk}, OLD.${owner}, 'update'
    WHERE OLD.${pk} IS NOT NEW.${pk} OR OLD.${owner} IS NOT NEW.${owner};
END`,
    `CREATE TRIGGER IF NOT EXISTS ${trigger('delete')} AFTER DELETE ON ${t} BEGIN
  INSERT INTO ferry_capture (table_name, pk, owner, op) VALUES (${name}, OLD.${pk}, OLD.${owner}, 'delete');
END`,
  ];
}

/**
 * A column's DDL. `autoincrement`: the integer key of a table whose keys the server assigns, so
 * that SQL that leaves the key out never gets a key the table had before (plain rowids reuse the
 * key of a deleted last row); Ferry's own allocation goes past its sequence too.
 */
function columnDdl(column: Column, autoincrement = false): string {
  let sql = `${quoteIdent(column.name)} ${sqliteTypeOf(column.type)}`;
  if (column.notNull) sql += ' NOT NULL';
  if (column.isPrimaryKey) sql += autoincrement ? ' PRIMARY KEY AUTOINCREMENT' : ' PRIMARY KEY';
  if (column.default !== undefined && column.default !== null) {
    sql += ` DEFAULT ${sqlLiteral(toSqliteValue(column.type, column.default))}`;
  }
  const reference = column.reference;
  if (reference) {
    const action =
      reference.onDelete === 'cascade'
        ? 'CASCADE'
        : reference.onDelete === 'set null'
          ? 'SET NULL'
          : 'NO ACTION';
    sql += ` REFERENCES ${quoteIdent(reference.parentTable)} (${quoteIdent(reference.parentColumn)}) ON DELETE ${action} DEFERRABLE INITIALLY DEFERRED`;
  }
  return sql;
}

/** Drops a table's capture triggers (by table name, so also those of a renamed table). */
export function dropCaptureTriggersDdl(tableName: string): string[] {
  return ['insert', 'update', 'delete'].map(
    (suffix) => `DROP TRIGGER IF EXISTS ${quoteIdent(`ferry_capture_${tableName}_${suffix}`)}`,
  );
}

/** The embedded store's part of a SQLite migration: its tables, triggers and `ferry_rows`. */
export const SERVER_SQLITE_TARGET: SqliteMigrationTarget = {
  createTable: (table) => [businessTableDdl(table).replace(/;$/, '')],
  columnDef: (_table, column) => columnDdl(column),
  ownIndexNames: (table) =>
    [table.owner, ...table.references.map((r) => r.column)].map(
      (column) => `ferry_idx_${table.name}_${column}`,
    ),
  dropTriggers: dropCaptureTriggersDdl,
  ensureTable: (table) => [businessTableDdl(table).replace(/;$/, '')],
  renameTableMetadata: (from, to) => [
    `UPDATE ferry_rows SET table_name = ${sqlLiteral(to)} WHERE table_name = ${sqlLiteral(from)}`,
  ],
  dropTableMetadata: (name) => [`DELETE FROM ferry_rows WHERE table_name = ${sqlLiteral(name)}`],
  runsCustomSql: true,
};

/** The SQL of one version's migration on the embedded store ({@link sqliteMigrationStatements}). */
export function sqliteMigrationSql(migration: VersionMigration): SqliteMigrationSql {
  return sqliteMigrationStatements(migration, SERVER_SQLITE_TARGET);
}

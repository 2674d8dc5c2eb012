import {
  FerryError,
  sqliteTypeOf,
  toSqliteValue,
  type Column,
  type Schema,
  type SqliteValue,
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
 * `schema_fingerprint`, `metadata_version` and `server_id`.
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
  const columns = table.columns.map((column) => columnDdl(column));
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

function columnDdl(column: Column): string {
  let sql = `${quoteIdent(column.name)} ${sqliteTypeOf(column.type)}`;
  if (column.notNull) sql += ' NOT NULL';
  if (column.isPrimaryKey) sql += ' PRIMARY KEY';
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

/** The secondary indexes a table declares (`CREATE INDEX IF NOT EXISTS`). */
export function declaredIndexesDdl(table: Table): string[] {
  return table.indexes.map(
    (index) =>
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(index.sqlName)} ON ${quoteIdent(table.name)} (${index.columns.map(quoteIdent).join(', ')})`,
  );
}

/** Drops a table's capture triggers (by table name, so also those of a renamed table). */
export function dropCaptureTriggersDdl(tableName: string): string[] {
  return ['insert', 'update', 'delete'].map(
    (suffix) => `DROP TRIGGER IF EXISTS ${quoteIdent(`ferry_capture_${tableName}_${suffix}`)}`,
  );
}

/** One version's migration on the SQLite store: see {@link sqliteMigrationSql}. */
export interface SqliteMigrationSql {
  /** The statements, in order, for one transaction. */
  readonly statements: readonly string[];
  /** A table is rebuilt: foreign keys must be off around the transaction (SQLite's rule). */
  readonly rebuilds: boolean;
}

/**
 * The SQL that takes the embedded store from `migration.from` to `migration.to`, derived from
 * the steps: `ALTER TABLE` for renames, added columns and dropped plain columns; a rebuild of the
 * table (create, copy, drop, rename: SQLite's documented procedure) where SQLite cannot alter in
 * place (a column becomes nullable, a reference column is dropped); the capture triggers and
 * indexes of every table re-created before the custom SQL (so its writes are captured) and at
 * the end. A dropped table loses its triggers first: its rows are not sent as deletes. Sync
 * metadata follows renames (`ferry_rows`). Throws `invalid_schema` when the migration has custom
 * SQL for PostgreSQL only.
 */
export function sqliteMigrationSql(migration: VersionMigration): SqliteMigrationSql {
  const { from, to, steps } = migration;
  const out: string[] = [];
  // Tables rebuilt at the end, after the custom SQL, which may still read what they lose.
  const rebuilt = new Set<string>();
  const ensureTables = () => {
    for (const table of to.tables) {
      out.push(...dropCaptureTriggersDdl(table.name));
      out.push(businessTableDdl(table).replace(/;$/, ''));
      out.push(...declaredIndexesDdl(table));
    }
  };
  const rebuild = (table: Table) => {
    const t = quoteIdent(table.name);
    const temp = quoteIdent(`ferry_rebuild_${table.name}`);
    const columns = table.columns.map((c) => quoteIdent(c.name)).join(', ');
    out.push(
      `CREATE TABLE ${temp} (\n  ${table.columns.map((c) => columnDdl(c)).join(',\n  ')}\n)`,
      `INSERT INTO ${temp} (${columns}) SELECT ${columns} FROM ${t}`,
      `DROP TABLE ${t}`,
      `ALTER TABLE ${temp} RENAME TO ${t}`,
    );
  };
  for (const step of steps) {
    switch (step.kind) {
      case 'rename-table': {
        const old = from.requireTable(step.from);
        out.push(...dropCaptureTriggersDdl(old.name));
        for (const column of [old.owner, ...old.references.map((r) => r.column)]) {
          out.push(`DROP INDEX IF EXISTS ${quoteIdent(`ferry_idx_${old.name}_${column}`)}`);
        }
        out.push(
          `ALTER TABLE ${quoteIdent(step.from)} RENAME TO ${quoteIdent(step.to)}`,
          `UPDATE ferry_rows SET table_name = ${sqlLiteral(step.to)} WHERE table_name = ${sqlLiteral(step.from)}`,
        );
        break;
      }
      case 'rename-column':
        out.push(
          `DROP INDEX IF EXISTS ${quoteIdent(`ferry_idx_${step.table}_${step.from}`)}`,
          `ALTER TABLE ${quoteIdent(step.table)} RENAME COLUMN ${quoteIdent(step.from)} TO ${quoteIdent(step.to)}`,
        );
        break;
      case 'drop-index':
        out.push(`DROP INDEX IF EXISTS ${quoteIdent(step.index)}`);
        break;
      case 'add-table':
        out.push(businessTableDdl(to.requireTable(step.table)).replace(/;$/, ''));
        break;
      case 'add-column': {
        const column = to.requireTable(step.table).column(step.column)!;
        out.push(`ALTER TABLE ${quoteIdent(step.table)} ADD COLUMN ${columnDdl(column)}`);
        break;
      }
      case 'change-column':
        // Types widen by affinity and lengths are Ferry's checks; NOT NULL needs a rebuild.
        // A new default is Ferry's to fill in (pushes and backend writes), not the table's.
        if (step.changes.includes('nullable')) rebuilt.add(step.table);
        break;
      case 'sql':
        if (step.sqlite === undefined) {
          throw new FerryError(
            'invalid_schema',
            `the migration to version ${to.version} has custom SQL for PostgreSQL only; give it for SQLite too (migration.sql.sqlite)`,
          );
        }
        ensureTables();
        out.push(step.sqlite);
        break;
      case 'drop-column': {
        const table = to.requireTable(step.table);
        const old = from.table(table.name) ?? from.requireTable(table.renamedFrom!);
        if (old.column(step.column)!.reference !== undefined) {
          rebuilt.add(table.name);
        } else if (!rebuilt.has(table.name)) {
          out.push(
            `DROP INDEX IF EXISTS ${quoteIdent(`ferry_idx_${table.name}_${step.column}`)}`,
            `ALTER TABLE ${quoteIdent(table.name)} DROP COLUMN ${quoteIdent(step.column)}`,
          );
        }
        break;
      }
      case 'drop-table':
        out.push(
          ...dropCaptureTriggersDdl(step.table),
          `DROP TABLE ${quoteIdent(step.table)}`,
          `DELETE FROM ferry_rows WHERE table_name = ${sqlLiteral(step.table)}`,
        );
        break;
      case 'add-index':
        break; // ensureTables creates every declared index
    }
  }
  for (const name of rebuilt) rebuild(to.requireTable(name));
  ensureTables();
  return { statements: out, rebuilds: rebuilt.size > 0 };
}

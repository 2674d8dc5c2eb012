/**
 * The upgrade of a client file to a newer version of the app's schema: the synced tables
 * migrated from the declarations ({@link sqliteMigrationStatements}, as the server's embedded
 * store does it), and every row Ferry keeps about them (bases, the bundle in flight, what it
 * committed, dead letters, conflicts and the journal of settled ones) rewritten into the new
 * version's names, all in the caller's one transaction: a crash at any point leaves the file as
 * it was, and the next open migrates it again.
 *
 * @module
 */
import {
  projectionBetween,
  sqliteMigrationStatements,
  type Row,
  type SchemaHistory,
  type SqliteMigrationTarget,
  type Table,
  type VersionProjection,
} from '@ferry/protocol';
import type { TransactionExecutor } from '../driver/serial-database.js';
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import {
  captureTriggersSql,
  columnSql,
  createTableSql,
  dropCaptureTriggersSql,
  quoteIdent,
  quoteLiteral,
  referenceIndexSql,
} from './local-schema-sql.js';

/** The metadata tables that name a synced table in `tbl`. */
const TBL_TABLES = [
  'ferry_log',
  'ferry_outbox',
  'ferry_cancelled',
  'ferry_rows',
  'ferry_inflight',
  'ferry_committed',
  'ferry_dead_letters',
  'ferry_conflicts',
  'ferry_settled_conflicts',
] as const;

/**
 * The metadata columns that hold a row as JSON, and whether it is a server row (a base: the
 * columns the new version added take the value the server gave existing rows) or a local one
 * (left without them: the device never wrote them).
 */
const ROW_COLUMNS: readonly { table: string; column: string; server: boolean }[] = [
  { table: 'ferry_outbox', column: 'pin_base', server: true },
  { table: 'ferry_rows', column: 'base', server: true },
  { table: 'ferry_inflight', column: 'base', server: true },
  { table: 'ferry_inflight', column: 'row', server: false },
  { table: 'ferry_committed', column: 'row', server: true },
  { table: 'ferry_dead_letters', column: 'base', server: true },
  { table: 'ferry_dead_letters', column: 'row', server: false },
  { table: 'ferry_conflicts', column: 'local', server: false },
  { table: 'ferry_conflicts', column: 'base', server: true },
  { table: 'ferry_conflicts', column: 'server', server: true },
  { table: 'ferry_settled_conflicts', column: 'lost', server: false },
  { table: 'ferry_settled_conflicts', column: 'won', server: false },
];

/** The client file's part of a SQLite migration. */
function clientTarget(toVersion: number): SqliteMigrationTarget {
  return {
    createTable: (table) => [
      createTableSql(table),
      ...referenceIndexSql(table),
      ...captureTriggersSql(table),
    ],
    columnDef: (table, column) => columnSql(table, column.name),
    ownIndexNames: (table) => table.references.map((r) => `ferry_ref_${table.name}_${r.column}`),
    dropTriggers: dropCaptureTriggersSql,
    ensureTable: (table) => [...referenceIndexSql(table), ...captureTriggersSql(table)],
    renameTableMetadata: (from, to) =>
      TBL_TABLES.map(
        (t) => `UPDATE ${t} SET tbl = ${quoteLiteral(to)} WHERE tbl = ${quoteLiteral(from)}`,
      ),
    dropTableMetadata: (name) => droppedTableMetadata(name, toVersion),
    runsCustomSql: false,
  };
}

/**
 * What goes with a dropped table: its pending changes become dead letters the app can see (with
 * the local row as it was, read before the table goes), the rest of its sync state is deleted.
 */
function droppedTableMetadata(name: string, toVersion: number): string[] {
  const t = quoteLiteral(name);
  const message = quoteLiteral(`table ${name} was dropped in schema version ${toVersion}`);
  return [
    `INSERT OR REPLACE INTO ferry_dead_letters (tbl, pk, letter, op, base_version, base, row, first_at, code, message, status, source_bundle_id, at)
SELECT o.tbl, o.pk, o.op, CASE o.op WHEN 'D' THEN 'delete' ELSE 'upsert' END, r.version, r.base,
  (SELECT l.row FROM ferry_dropped_rows AS l WHERE l.pk = o.pk), o.first_at, 'unknown_table', ${message}, NULL, NULL,
  ${Date.now()}
FROM ferry_outbox AS o LEFT JOIN ferry_rows AS r ON r.tbl = o.tbl AND r.pk = o.pk WHERE o.tbl = ${t}`,
    ...['ferry_outbox', 'ferry_cancelled', 'ferry_rows', 'ferry_committed', 'ferry_log'].map(
      (table) => `DELETE FROM ${table} WHERE tbl = ${t}`,
    ),
    'DELETE FROM ferry_dropped_rows',
  ];
}

/** Outcome of {@link migrateLocalFile}. */
export interface LocalMigration {
  /** The versions the file went through, in order. */
  readonly versions: readonly number[];
  /** A table was rebuilt, so foreign keys were checked: the caller turns them on again. */
  readonly rebuilds: boolean;
}

/**
 * Migrates the file from `fromVersion` to the history's newest inside the caller's transaction
 * (foreign keys must be off on the connection when {@link needsRebuild} says so).
 */
export async function migrateLocalFile(
  tx: TransactionExecutor,
  history: SchemaHistory,
  fromVersion: number,
  hook: () => void | Promise<void> = () => undefined,
): Promise<LocalMigration> {
  const to = history.latest.version;
  const migrations = history.migrations(fromVersion, to);
  // Rows kept as JSON are rewritten first, while they still have their old table names.
  await hook();
  await rewriteRowJson(tx, projectionBetween(history, fromVersion, to));
  let rebuilds = false;
  for (const migration of migrations) {
    const dropped = migration.steps.filter((s) => s.kind === 'drop-table').map((s) => s.table);
    for (const name of dropped) await keepDroppedRows(tx, migration.from.requireTable(name));
    const sql = sqliteMigrationStatements(migration, clientTarget(migration.to.version));
    rebuilds ||= sql.rebuilds;
    for (const statement of sql.statements) {
      await hook();
      await tx.exec(statement);
    }
  }
  if (rebuilds) {
    const broken = await tx.all('PRAGMA foreign_key_check');
    if (broken.length > 0) {
      throw new Error(
        `the local migration to version ${to} leaves ${broken.length} broken reference(s)`,
      );
    }
  }
  return { versions: migrations.map((m) => m.to.version), rebuilds };
}

/** Whether migrating from `fromVersion` rebuilds a table (foreign keys off around it). */
export function needsRebuild(history: SchemaHistory, fromVersion: number): boolean {
  return history
    .migrations(fromVersion)
    .some((m) =>
      m.steps.some(
        (s) =>
          (s.kind === 'change-column' && s.changes.includes('nullable')) ||
          (s.kind === 'drop-column' &&
            (
              m.from.table(s.table) ?? m.from.table(m.to.requireTable(s.table).renamedFrom ?? '')
            )?.column(s.column)?.reference !== undefined),
      ),
    );
}

/** The local rows of a table about to be dropped, as JSON, for the dead letters it leaves. */
async function keepDroppedRows(tx: TransactionExecutor, table: Table): Promise<void> {
  await tx.exec('CREATE TEMP TABLE IF NOT EXISTS ferry_dropped_rows (pk PRIMARY KEY, row TEXT)');
  const pairs = table.columns
    .map((c) => `${quoteLiteral(c.name)}, ${quoteIdent(c.name)}`)
    .join(', ');
  await tx.exec(
    `INSERT OR REPLACE INTO ferry_dropped_rows (pk, row) SELECT ${quoteIdent(table.primaryKey)}, json_object(${pairs}) FROM ${quoteIdent(table.name)} WHERE ${quoteIdent(table.primaryKey)} IN (SELECT pk FROM ferry_outbox WHERE tbl = ${quoteLiteral(table.name)})`,
  );
}

/** Rewrites every row Ferry keeps as JSON into the newest version's names. */
async function rewriteRowJson(
  tx: TransactionExecutor,
  projection: VersionProjection,
): Promise<void> {
  if (projection.identity) return;
  for (const { table, column, server } of ROW_COLUMNS) {
    // Every one of these tables is unique by (tbl, pk), with or without a rowid.
    const rows = await tx.all<SqlRow & { tbl: string; pk: SqlValue; v: string | null }>(
      `SELECT tbl, pk, ${column} AS v FROM ${table} WHERE ${column} IS NOT NULL`,
    );
    for (const row of rows) {
      const value = JSON.parse(row.v!) as Row;
      const next = projection.row(row.tbl, value, server)?.row;
      if (next === undefined) continue; // a dropped table: its state goes with it
      await tx.run(`UPDATE ${table} SET ${column} = ? WHERE tbl = ? AND pk = ?`, [
        JSON.stringify(next),
        row.tbl,
        row.pk,
      ]);
    }
  }
  // The journal of settled conflicts names columns too.
  const settled = await tx.all<SqlRow & { id: number; tbl: string; columns: string }>(
    'SELECT id, tbl, columns FROM ferry_settled_conflicts',
  );
  for (const entry of settled) {
    const columns = (JSON.parse(entry.columns) as string[])
      .map((c) => projection.column(entry.tbl, c))
      .filter((c): c is string => c !== null);
    await tx.run('UPDATE ferry_settled_conflicts SET columns = ? WHERE id = ?', [
      JSON.stringify(columns),
      entry.id,
    ]);
  }
}

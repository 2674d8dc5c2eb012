/**
 * The SQLite store's connections and statements: connection settings, every prepared statement
 * of the write and read connections, the metadata upgrade, and the row codec between wire rows
 * and SQLite values.
 *
 * @module
 */
import type Database from 'better-sqlite3';
import {
  fromSqliteValue,
  toSqliteValue,
  type Schema,
  type Table,
  type WireRow,
} from '@ferry/protocol';
import { METADATA_UPGRADES, quoteIdent } from './sqlite-ddl.js';

export type Db = Database.Database;
export type Statement = Database.Statement;
export type RawRow = Record<string, unknown>;

export interface TableStatements {
  readonly table: Table;
  /**
   * The upsert that inserts a whole row (every column, in table order: {@link encodeRow}) or,
   * when the row exists, writes only `writes` (a change's `writes`) and the columns the server
   * derives at every commit; the counters among them named in `adds` get their current value
   * plus the row's (see `counterWrite`).
   */
  upsert(writes: readonly string[], adds?: readonly string[]): Statement;
  readonly remove: Statement;
  readonly select: Statement;
  readonly selectOwned: Statement;
  /** Per referencing child column: SELECT pk FROM child WHERE column = ?. */
  readonly children: ReadonlyMap<string, Statement>;
}

export interface Statements {
  readonly tables: ReadonlyMap<string, TableStatements>;
  readonly rowState: Statement;
  readonly putRowState: Statement;
  readonly userState: Statement;
  readonly putUserSeq: Statement;
  readonly source: Statement;
  readonly putSource: Statement;
  readonly bundle: Statement;
  readonly bundleToken: Statement;
  readonly insertBundle: Statement;
  readonly captured: Statement;
  readonly clearCapture: Statement;
  readonly hasCapture: Statement;
}

export interface ReadStatements {
  readonly userState: Statement;
  readonly bundleToken: Statement;
  readonly bundlesAfter: Statement;
  readonly hasCapture: Statement;
}

/** A user's row of ferry_users (all zero and null before the user's first bundle). */
export interface UserState {
  readonly lastSeq: number;
  readonly prunedThrough: number;
  readonly lastToken: string | null;
  readonly prunedToken: string | null;
}

export const NO_USER: UserState = {
  lastSeq: 0,
  prunedThrough: 0,
  lastToken: null,
  prunedToken: null,
};

/** The columns of {@link UserState}, for SELECTs on ferry_users. */
export const USER_STATE_COLUMNS =
  'last_seq AS lastSeq, pruned_through AS prunedThrough, last_token AS lastToken, pruned_token AS prunedToken';

/**
 * Connection settings. WAL with synchronous NORMAL (durable at checkpoints, never corrupt); a
 * page cache of 64 MiB for the writer (less for readers); checkpoints every 16,384 pages instead of 1,000, because a bundle of random
 * UUID keys dirties pages all over the indexes and frequent checkpoints copy them again and
 * again (measured: about a third of the push time with the default).
 */
export function configure(db: Db, busyTimeoutMs: number, cacheMiB = 64): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = ${-cacheMiB * 1024}`);
  db.pragma('wal_autocheckpoint = 16384');
  db.pragma('journal_size_limit = 67108864');
}

/** Upsert statements kept per table, one per set of written columns. */
const MAX_UPSERT_STATEMENTS = 64;

export function prepareStatements(db: Db, schema: Schema): Statements {
  const tables = new Map<string, TableStatements>();
  for (const table of schema.tables) {
    const t = quoteIdent(table.name);
    const pk = quoteIdent(table.primaryKey);
    const names = table.columns.map((c) => c.name);
    const list = names.map(quoteIdent).join(', ');
    const upserts = new Map<string, Statement>();
    const upsert = (writes: readonly string[], adds: readonly string[] = []): Statement => {
      const key = `${writes.join('\u0000')}\u0001${adds.join('\u0000')}`;
      let statement = upserts.get(key);
      if (statement === undefined) {
        const written = new Set(writes);
        const added = new Set(adds);
        const updates = table.columns
          .filter((c) => written.has(c.name) || c.serverDerived === 'commitTime')
          .map((c) => {
            const name = quoteIdent(c.name);
            return added.has(c.name)
              ? `${name} = COALESCE(${name}, 0) + excluded.${name}`
              : `${name} = excluded.${name}`;
          });
        // Touch the row even when nothing is written, so the upsert is captured.
        const set = updates.length > 0 ? updates.join(', ') : `${pk} = excluded.${pk}`;
        statement = db.prepare(
          `INSERT INTO ${t} (${list}) VALUES (${names.map(() => '?').join(', ')}) ON CONFLICT (${pk}) DO UPDATE SET ${set}`,
        );
        // Column sets are few in practice; a client sending many is kept to a bounded cache.
        if (upserts.size >= MAX_UPSERT_STATEMENTS) upserts.delete(upserts.keys().next().value!);
        upserts.set(key, statement);
      }
      return statement;
    };
    const children = new Map<string, Statement>();
    for (const reference of table.referencedBy) {
      children.set(
        `${reference.childTable}.${reference.column}`,
        db.prepare(
          `SELECT ${quoteIdent(schema.requireTable(reference.childTable).primaryKey)} FROM ${quoteIdent(reference.childTable)} WHERE ${quoteIdent(reference.column)} = ?`,
        ),
      );
    }
    tables.set(table.name, {
      table,
      upsert,
      remove: db.prepare(`DELETE FROM ${t} WHERE ${pk} = ?`),
      select: db.prepare(`SELECT ${list} FROM ${t} WHERE ${pk} = ?`),
      selectOwned: db.prepare(
        `SELECT ${list} FROM ${t} WHERE ${pk} = ? AND ${quoteIdent(table.owner)} = ?`,
      ),
      children,
    });
  }
  return {
    tables,
    rowState: db.prepare(
      'SELECT owner, row_version AS rowVersion, deleted FROM ferry_rows WHERE table_name = ? AND pk = ?',
    ),
    putRowState: db.prepare(
      'INSERT INTO ferry_rows (table_name, pk, owner, row_version, deleted) VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name, pk) DO UPDATE SET owner = excluded.owner, row_version = excluded.row_version, deleted = excluded.deleted',
    ),
    userState: db.prepare(`SELECT ${USER_STATE_COLUMNS} FROM ferry_users WHERE user_id = ?`),
    putUserSeq: db.prepare(
      'INSERT INTO ferry_users (user_id, last_seq, last_token) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET last_seq = excluded.last_seq, last_token = excluded.last_token',
    ),
    source: db.prepare(
      'SELECT last_committed AS lastCommitted, bundle_seq AS bundleSeq, response, digest FROM ferry_sources WHERE user_id = ? AND source_id = ?',
    ),
    putSource: db.prepare(
      'INSERT INTO ferry_sources (user_id, source_id, last_committed, bundle_seq, response, digest) VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (user_id, source_id) DO UPDATE SET last_committed = excluded.last_committed, bundle_seq = excluded.bundle_seq, response = NULL, digest = excluded.digest',
    ),
    bundle: db.prepare(
      'SELECT row_count AS rowCount, rows AS rowsJson, token, schema_version AS schemaVersion FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?',
    ),
    bundleToken: db
      .prepare('SELECT token FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?')
      .pluck(),
    insertBundle: db.prepare(
      `INSERT INTO ferry_bundles (user_id, bundle_seq, source_id, source_bundle_id, row_count, rows, committed_at, token, digest, schema_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ${schema.version})`,
    ),
    captured: db.prepare('SELECT table_name, pk FROM ferry_capture ORDER BY seq'),
    clearCapture: db.prepare('DELETE FROM ferry_capture'),
    hasCapture: db.prepare('SELECT EXISTS (SELECT 1 FROM ferry_capture) AS pending'),
  };
}

/** The statements of a read connection (pulls, cursor checks). */
export function prepareReadStatements(readDb: Db): ReadStatements {
  return {
    userState: readDb.prepare(`SELECT ${USER_STATE_COLUMNS} FROM ferry_users WHERE user_id = ?`),
    bundleToken: readDb
      .prepare('SELECT token FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?')
      .pluck(),
    bundlesAfter: readDb.prepare(
      'SELECT bundle_seq AS bundleSeq, source_id AS sourceId, source_bundle_id AS sourceBundleId, row_count AS rowCount, rows AS rowsJson, token, digest, schema_version AS schemaVersion FROM ferry_bundles WHERE user_id = ? AND bundle_seq > ? AND bundle_seq <= ? ORDER BY bundle_seq',
    ),
    hasCapture: readDb.prepare('SELECT EXISTS (SELECT 1 FROM ferry_capture) AS pending'),
  };
}

/**
 * Adds the columns of later layouts that a file made with an older one lacks; see
 * {@link METADATA_UPGRADES}. Idempotent; runs in the open transaction.
 */
export function upgradeMetadata(db: Db): void {
  const columnsOf = new Map<string, Set<string>>();
  for (const { table, column, type } of METADATA_UPGRADES) {
    let columns = columnsOf.get(table);
    if (!columns) {
      columns = new Set(
        db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[],
      );
      columnsOf.set(table, columns);
    }
    if (!columns.has(column)) {
      db.exec(`ALTER TABLE ${quoteIdent(table)} ADD COLUMN ${quoteIdent(column)} ${type}`);
      columns.add(column);
    }
  }
}

export function encodeRow(statements: TableStatements, row: WireRow, nowIso: string): unknown[] {
  const table = statements.table;
  return table.columns.map((column) =>
    column.serverDerived !== undefined ? nowIso : toSqliteValue(column.type, row[column.name]),
  );
}

export function decodeRow(table: Table, raw: RawRow): WireRow {
  const row: WireRow = {};
  for (const column of table.columns)
    row[column.name] = fromSqliteValue(column.type, raw[column.name]);
  return row;
}

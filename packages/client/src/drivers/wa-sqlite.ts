/**
 * The {@link SqliteDriver} over wa-sqlite (`@journeyapps/wa-sqlite`, SQLite compiled to
 * WebAssembly), and the opening of a persisted database in a browser worker: on the Origin
 * Private File System where the browser has it (`OPFSCoopSyncVFS` on the synchronous build),
 * else in IndexedDB (`IDBBatchAtomicVFS` on the Asyncify build). It runs in a dedicated Web
 * Worker (the OPFS access handles exist only there); the page talks to it through
 * `waSqliteWorkerDriver` (`@ferry/client/wa-sqlite`).
 *
 * @module
 */
import * as SQLite from '@journeyapps/wa-sqlite';
import * as SQLiteConstants from '@journeyapps/wa-sqlite/src/sqlite-constants.js';
import { FerryError } from '@ferry/protocol';
import type {
  RunResult,
  SqlRow,
  SqlStatement,
  SqlValue,
  SqliteDriver,
} from '../driver/sqlite-driver.js';

/** Where a browser database keeps its pages. */
export type BrowserStorage = 'opfs' | 'indexeddb';

/** Options of {@link openWaSqlite}. */
export interface OpenWaSqliteOptions {
  /** The database's name: its OPFS file, or its IndexedDB database. */
  readonly name: string;
  /**
   * `auto` (default): OPFS where the worker has synchronous access handles, else IndexedDB.
   * A named storage is used or the open fails.
   */
  readonly storage?: 'auto' | BrowserStorage;
  /**
   * Where the `.wasm` files are, when the bundler does not resolve wa-sqlite's own
   * `new URL('…wasm', import.meta.url)` (esbuild, say): the URL of each build's file.
   */
  readonly wasmUrls?: { readonly sync?: string; readonly async?: string };
}

/** A SQLite driver together with what it stores on. */
export interface BrowserDatabase {
  readonly driver: SqliteDriver;
  readonly storage: BrowserStorage;
}

/** The part of an Emscripten module `openWaSqlite` calls directly. */
interface SqliteModule {
  _sqlite3_extended_result_codes(db: number, on: number): number;
}

interface VfsFactory {
  create(name: string, module: unknown, options?: object): Promise<SQLiteVFS>;
}

/** Whether this context can use the OPFS VFS (a dedicated worker with sync access handles). */
export function opfsAvailable(): boolean {
  return (
    typeof (globalThis as { FileSystemSyncAccessHandle?: unknown }).FileSystemSyncAccessHandle ===
      'function' && typeof navigator?.storage?.getDirectory === 'function'
  );
}

/**
 * Opens (creating it if needed) a persisted database and returns its driver. Sets
 * `foreign_keys=ON` and extended result codes (errors carry `SQLITE_CONSTRAINT_NOTNULL`, not
 * `SQLITE_CONSTRAINT`), as the Node driver's errors do.
 */
export async function openWaSqlite(options: OpenWaSqliteOptions): Promise<BrowserDatabase> {
  const wanted = options.storage ?? 'auto';
  const storage: BrowserStorage =
    wanted === 'auto' ? (opfsAvailable() ? 'opfs' : 'indexeddb') : wanted;
  if (storage === 'opfs' && !opfsAvailable()) {
    throw new FerryError(
      'store_unavailable',
      'OPFS with synchronous access handles is not available here (it needs a dedicated worker of a browser that has it)',
    );
  }
  const wasmUrl = storage === 'opfs' ? options.wasmUrls?.sync : options.wasmUrls?.async;
  const config = wasmUrl === undefined ? {} : { locateFile: () => wasmUrl };
  let module: SqliteModule;
  let vfs: SQLiteVFS;
  if (storage === 'opfs') {
    const [{ default: factory }, { OPFSCoopSyncVFS }] = await Promise.all([
      import('@journeyapps/wa-sqlite/dist/wa-sqlite.mjs'),
      import('@journeyapps/wa-sqlite/src/examples/OPFSCoopSyncVFS.js'),
    ]);
    module = (await factory(config)) as SqliteModule;
    vfs = await OPFSCoopSyncVFS.create(`ferry-opfs`, module);
  } else {
    const [{ default: factory }, { IDBBatchAtomicVFS }] = await Promise.all([
      import('@journeyapps/wa-sqlite/dist/wa-sqlite-async.mjs'),
      import('@journeyapps/wa-sqlite/src/examples/IDBBatchAtomicVFS.js'),
    ]);
    module = (await factory(config)) as SqliteModule;
    vfs = await (IDBBatchAtomicVFS as unknown as VfsFactory).create(
      `ferry-idb-${options.name}`,
      module,
      { idbName: `ferry-${options.name}` },
    );
  }
  const sqlite3 = SQLite.Factory(module);
  sqlite3.vfs_register(vfs, false);
  const db = await sqlite3.open_v2(
    options.name,
    SQLite.SQLITE_OPEN_CREATE | SQLite.SQLITE_OPEN_READWRITE,
    vfs.name,
  );
  module._sqlite3_extended_result_codes(db, 1);
  const driver = new WaSqliteDriver(sqlite3, db, async () => {
    await vfs.close();
  });
  // IDBBatchAtomicVFS commits a transaction in one IndexedDB transaction when SQLite's journal
  // stays in the page cache (its "batch atomic" mode), so the cache must hold a transaction's
  // pages: 64 MiB here.
  await driver.exec('PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536');
  return { driver, storage };
}

/**
 * A driver over an open wa-sqlite connection. Prepared statements are cached by SQL text (the
 * least recently added go first past `cacheSize`); `close()` finalises them, closes the
 * connection and runs `onClose`.
 */
export function waSqliteDriver(
  sqlite3: SQLiteAPI,
  db: number,
  onClose: () => Promise<void> = async () => undefined,
  cacheSize = 500,
): SqliteDriver {
  return new WaSqliteDriver(sqlite3, db, onClose, cacheSize);
}

class WaSqliteDriver implements SqliteDriver {
  readonly #sqlite3: SQLiteAPI;
  readonly #db: number;
  readonly #onClose: () => Promise<void>;
  readonly #cacheSize: number;
  readonly #statements = new Map<string, number>();
  #closed = false;

  constructor(sqlite3: SQLiteAPI, db: number, onClose: () => Promise<void>, cacheSize = 500) {
    this.#sqlite3 = sqlite3;
    this.#db = db;
    this.#onClose = onClose;
    this.#cacheSize = cacheSize;
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    try {
      await this.#execute(sql, params, () => undefined);
      return { changes: this.#sqlite3.changes(this.#db) };
    } catch (error) {
      throw asDriverError(error);
    }
  }

  async all<R extends SqlRow = SqlRow>(
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<R[]> {
    try {
      const rows: R[] = [];
      let names: string[] | undefined;
      await this.#execute(sql, params, (statement) => {
        names ??= this.#sqlite3.column_names(statement);
        const values = this.#sqlite3.row(statement);
        const row: SqlRow = {};
        for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
        rows.push(row as R);
      });
      return rows;
    } catch (error) {
      throw asDriverError(error);
    }
  }

  async exec(sql: string): Promise<void> {
    this.#check();
    try {
      await this.#sqlite3.exec(this.#db, sql);
    } catch (error) {
      throw asDriverError(error);
    }
  }

  async batch(statements: readonly SqlStatement[]): Promise<RunResult[]> {
    await this.run('BEGIN IMMEDIATE');
    const results: RunResult[] = [];
    try {
      for (const statement of statements) {
        results.push(await this.run(statement.sql, statement.params));
      }
      await this.run('COMMIT');
    } catch (error) {
      if (this.#sqlite3.get_autocommit(this.#db) === 0) await this.run('ROLLBACK');
      throw error;
    }
    return results;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      for (const statement of this.#statements.values()) await this.#sqlite3.finalize(statement);
      this.#statements.clear();
      await this.#sqlite3.close(this.#db);
      await this.#onClose();
    } catch (error) {
      throw asDriverError(error);
    }
  }

  #check(): void {
    if (this.#closed) throw new FerryError('closed', 'the SQLite driver is closed');
  }

  /**
   * Runs the cached statement of `sql` to its end, handing each row to `onRow`, and resets it
   * (also after a failure, so that the next use starts clean and no read stays open).
   */
  async #execute(
    sql: string,
    params: readonly SqlValue[],
    onRow: (statement: number) => void,
  ): Promise<void> {
    const statement = await this.#prepare(sql);
    try {
      this.#bind(statement, params);
      while ((await this.#sqlite3.step(statement)) === SQLite.SQLITE_ROW) onRow(statement);
    } finally {
      // The step's error, if any, is already being thrown; reset repeats it.
      await this.#sqlite3.reset(statement).catch(() => undefined);
      this.#sqlite3.clear_bindings(statement);
    }
  }

  async #prepare(sql: string): Promise<number> {
    this.#check();
    const cached = this.#statements.get(sql);
    if (cached !== undefined) return cached;
    let statement: number | undefined;
    for await (const prepared of this.#sqlite3.statements(this.#db, sql, { unscoped: true })) {
      if (statement !== undefined) {
        await this.#sqlite3.finalize(prepared);
        await this.#sqlite3.finalize(statement);
        throw new FerryError('invalid_argument', 'run and all take one statement (use exec)');
      }
      statement = prepared;
    }
    if (statement === undefined) throw new FerryError('invalid_argument', 'no statement to run');
    if (this.#statements.size >= this.#cacheSize) {
      const [oldest, handle] = this.#statements.entries().next().value as [string, number];
      this.#statements.delete(oldest);
      await this.#sqlite3.finalize(handle);
    }
    this.#statements.set(sql, statement);
    return statement;
  }

  #bind(statement: number, params: readonly SqlValue[]): void {
    for (let i = 0; i < params.length; i++) {
      const value = params[i]!;
      // wa-sqlite binds a number outside 32 bits as a double; an integer stays an integer here,
      // as it does on better-sqlite3.
      if (typeof value === 'number' && Number.isSafeInteger(value) && value !== (value | 0)) {
        this.#sqlite3.bind_int64(statement, i + 1, BigInt(value));
      } else {
        this.#sqlite3.bind(statement, i + 1, value);
      }
    }
  }
}

/** The primary result codes by number (https://www.sqlite.org/rescode.html). */
const PRIMARY_CODES = [
  'OK',
  'ERROR',
  'INTERNAL',
  'PERM',
  'ABORT',
  'BUSY',
  'LOCKED',
  'NOMEM',
  'READONLY',
  'INTERRUPT',
  'IOERR',
  'CORRUPT',
  'NOTFOUND',
  'FULL',
  'CANTOPEN',
  'PROTOCOL',
  'EMPTY',
  'SCHEMA',
  'TOOBIG',
  'CONSTRAINT',
  'MISMATCH',
  'MISUSE',
  'NOLFS',
  'AUTH',
  'FORMAT',
  'RANGE',
  'NOTADB',
  'NOTICE',
  'WARNING',
];

/** Result code number → name: the extended codes wa-sqlite names, then the primary ones. */
const CODE_NAMES: ReadonlyMap<number, string> = new Map([
  ...PRIMARY_CODES.map((name, code): [number, string] => [code, `SQLITE_${name}`]),
  ...Object.entries(SQLiteConstants as Record<string, unknown>)
    .filter(
      (entry): entry is [string, number] =>
        typeof entry[1] === 'number' && /^SQLITE_(IOERR|CONSTRAINT)_[A-Z_]+$/.test(entry[0]),
    )
    .map(([name, code]): [number, string] => [code, name]),
]);

/** A wa-sqlite error with a `SQLITE_…` string code, as better-sqlite3 gives it. */
function asDriverError(error: unknown): Error {
  if (error instanceof FerryError) return error;
  if (error instanceof SQLite.SQLiteError && typeof error.code === 'number') {
    const code = error.code;
    const named = new Error(error.message) as Error & { code: string };
    named.code = CODE_NAMES.get(code) ?? CODE_NAMES.get(code & 0xff) ?? `SQLITE_${code}`;
    return named;
  }
  return error instanceof Error ? error : new Error(String(error));
}

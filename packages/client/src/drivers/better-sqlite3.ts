/**
 * `@ferry/client/better-sqlite3`: the {@link SqliteDriver} for Node and Electron on
 * better-sqlite3 (an optional peer dependency: install it next to `@ferry/client`).
 *
 * @example
 * import { createClient } from '@ferry/client';
 * import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
 *
 * const client = await createClient({ schema, driver: betterSqlite3Driver('./app.db'), url, getToken });
 *
 * @module
 */
import Database from 'better-sqlite3';
import { FerryError } from '@ferry/protocol';
import type {
  RunResult,
  SqlRow,
  SqlStatement,
  SqlValue,
  SqliteDriver,
} from '../driver/sqlite-driver.js';

/** The part of a better-sqlite3 prepared statement the driver uses. */
export interface BetterSqlite3StatementLike {
  readonly reader: boolean;
  run(...params: unknown[]): { changes: number };
  all(...params: unknown[]): unknown[];
}

/** The part of a better-sqlite3 `Database` the driver uses (structural: no import of its types). */
export interface BetterSqlite3DatabaseLike {
  readonly open: boolean;
  readonly inTransaction: boolean;
  /** The file's path (`:memory:` or '' for none); better-sqlite3's `name`. */
  readonly name?: string;
  /** better-sqlite3's `memory`: the database lives in memory. */
  readonly memory?: boolean;
  prepare(sql: string): BetterSqlite3StatementLike;
  exec(sql: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/** Options of {@link betterSqlite3Driver}. */
export interface BetterSqlite3DriverOptions {
  /**
   * Pragmas set when the driver opens the file itself: `journal_mode=WAL`,
   * `synchronous=NORMAL` (durable against a process crash; a power loss may lose the last
   * commits) and `busy_timeout=5000`. Default true. `foreign_keys=ON` is always set.
   */
  readonly defaultPragmas?: boolean;
  /** Most prepared statements kept (default 500); the least recently added go first. */
  readonly statementCacheSize?: number;
}

/**
 * A driver over better-sqlite3. Given a path, it opens (and on `close()` closes) the file with
 * the default pragmas; given an open `Database`, it uses it as is (only `foreign_keys=ON` is
 * set) and leaves closing it to its owner.
 *
 * Every call runs synchronously inside better-sqlite3 and resolves at once; `batch` runs a
 * whole write transaction in one call.
 */
export function betterSqlite3Driver(
  database: string | BetterSqlite3DatabaseLike,
  options: BetterSqlite3DriverOptions = {},
): SqliteDriver {
  const owned = typeof database === 'string';
  const db: BetterSqlite3DatabaseLike =
    typeof database === 'string' ? new Database(database) : database;
  if (owned && options.defaultPragmas !== false) {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
  }
  db.pragma('foreign_keys = ON');
  return new BetterSqlite3Driver(db, owned, options.statementCacheSize ?? 500);
}

class BetterSqlite3Driver implements SqliteDriver {
  readonly #db: BetterSqlite3DatabaseLike;
  readonly #owned: boolean;
  readonly #cacheSize: number;
  readonly #statements = new Map<string, BetterSqlite3StatementLike>();
  readonly storage: 'file' | 'memory';
  #closed = false;

  constructor(db: BetterSqlite3DatabaseLike, owned: boolean, cacheSize: number) {
    this.#db = db;
    this.storage = storageOf(db);
    this.#owned = owned;
    this.#cacheSize = cacheSize;
  }

  run(sql: string, params: readonly SqlValue[] = []): Promise<RunResult> {
    try {
      return Promise.resolve({ changes: this.#prepare(sql).run(...params).changes });
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  all<R extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []): Promise<R[]> {
    try {
      const statement = this.#prepare(sql);
      if (!statement.reader) {
        statement.run(...params);
        return Promise.resolve([]);
      }
      return Promise.resolve(statement.all(...params) as R[]);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  exec(sql: string): Promise<void> {
    try {
      this.#check();
      this.#db.exec(sql);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  batch(statements: readonly SqlStatement[]): Promise<RunResult[]> {
    try {
      const begin = this.#prepare('BEGIN IMMEDIATE');
      const prepared = statements.map((s) => this.#prepare(s.sql));
      begin.run();
      const results: RunResult[] = [];
      try {
        for (let i = 0; i < prepared.length; i++) {
          results.push({ changes: prepared[i]!.run(...(statements[i]!.params ?? [])).changes });
        }
        this.#prepare('COMMIT').run();
      } catch (error) {
        if (this.#db.inTransaction) this.#prepare('ROLLBACK').run();
        throw error;
      }
      return Promise.resolve(results);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#statements.clear();
    try {
      if (this.#owned && this.#db.open) this.#db.close();
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  #check(): void {
    if (this.#closed) throw new FerryError('closed', 'the SQLite driver is closed');
  }

  #prepare(sql: string): BetterSqlite3StatementLike {
    this.#check();
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      if (this.#statements.size >= this.#cacheSize) {
        const oldest = this.#statements.keys().next().value;
        if (oldest !== undefined) this.#statements.delete(oldest);
      }
      this.#statements.set(sql, statement);
    }
    return statement;
  }
}

/** `memory` for an in-memory or temporary database, else `file`. */
function storageOf(db: BetterSqlite3DatabaseLike): 'file' | 'memory' {
  return db.memory === true || db.name === '' || db.name === ':memory:' ? 'memory' : 'file';
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error));
}

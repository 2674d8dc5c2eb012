/**
 * The one small interface between the Ferry client and a SQLite engine. Ours, async, and
 * narrow enough that a wasm SQLite in a browser worker fits it as well as better-sqlite3.
 *
 * @module
 */

/** A value SQLite can bind. Booleans and JSON are encoded by the client before they get here. */
export type SqlValue = string | number | bigint | Uint8Array | null;

/** One statement with its positional parameters. */
export interface SqlStatement {
  readonly sql: string;
  readonly params?: readonly SqlValue[];
}

/** Outcome of a statement that changes rows. */
export interface RunResult {
  /** Rows inserted, updated or deleted by the statement itself (not by triggers). */
  readonly changes: number;
}

/** A result row: column name to SQLite value. */
export type SqlRow = Record<string, unknown>;

/**
 * A SQLite connection as the client uses it.
 *
 * Contract the implementation keeps:
 * 1. One connection: statements run in call order, and `BEGIN` … `COMMIT` issued through `run`
 *    spans every statement in between. The client serialises its own use with a mutex, so the
 *    driver needs none.
 * 2. Prepared statements are cached by SQL text; the client reuses a small set of texts.
 * 3. `all` on a statement that returns no rows runs it and resolves with `[]`.
 * 4. `batch` runs all statements inside one transaction (`BEGIN IMMEDIATE` … `COMMIT`) and rolls
 *    back on the first error, which it rethrows. It is the fast path of a local write: an
 *    implementation should run it in one call to the engine where it can.
 * 5. After `close()` resolves, every call rejects.
 */
export interface SqliteDriver {
  /**
   * Where the database keeps its pages, shown as `client.status.storage`: `file` (a file on
   * disk), `memory`, `opfs` or `indexeddb` (a browser), or a driver's own word.
   */
  readonly storage?: string;
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** Runs one or more statements without parameters (DDL). */
  exec(sql: string): Promise<void>;
  batch(statements: readonly SqlStatement[]): Promise<RunResult[]>;
  close(): Promise<void>;
}

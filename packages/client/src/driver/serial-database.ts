import { FerryError } from '@ferry/protocol';
import type { EventLoopSlices } from './event-loop-slices.js';
import type { RunResult, SqlRow, SqlStatement, SqlValue, SqliteDriver } from './sqlite-driver.js';

/** Statements inside an open transaction. */
export interface TransactionExecutor {
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  exec(sql: string): Promise<void>;
  /**
   * For long in-memory work between statements (a digest of a large bundle): a promise of the
   * event loop's next turn when the current slice of time is used up, else undefined (see
   * `EventLoopSlices`).
   */
  pause(): Promise<void> | undefined;
}

/** A transaction opened with {@link SerialDatabase.begin}. */
export interface OpenTransaction extends TransactionExecutor {
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/** Options of {@link SerialDatabase.transaction}. */
export interface TransactionOptions {
  /**
   * Run with `PRAGMA foreign_keys = OFF` (set before `BEGIN`, restored after the end): no
   * cascades and no checks while server data is applied; the integrity gate checks instead.
   * The pragma is per connection, so a crash can never leave it off in the file.
   */
  readonly foreignKeysOff?: boolean;
}

/**
 * The client's single connection, serialised: every call and every transaction runs alone,
 * so async interleaving can never put a foreign statement into an open transaction. Close-once.
 *
 * Invariants:
 * 1. At most one holder of the lock at a time; waiters are served in call order.
 * 2. A transaction ends with `COMMIT` or `ROLLBACK` before the lock is released, also when its
 *    callback throws.
 * 3. With `slices`, every statement first gives the event loop a turn when the current slice of
 *    time is used up (see {@link EventLoopSlices}); inside a transaction the lock is kept, so
 *    only work that does not need the database runs meanwhile.
 */
export class SerialDatabase {
  readonly #driver: SqliteDriver;
  readonly #slices: EventLoopSlices | undefined;
  #locked = false;
  readonly #waiters: (() => void)[] = [];
  #closed = false;

  constructor(driver: SqliteDriver, slices?: EventLoopSlices) {
    this.#driver = driver;
    this.#slices = slices;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async run(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    await this.#lock();
    try {
      await this.#slices?.breathe();
      return await this.#driver.run(sql, params);
    } finally {
      this.#unlock();
    }
  }

  async all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    await this.#lock();
    try {
      await this.#slices?.breathe();
      return await this.#driver.all<R>(sql, params);
    } finally {
      this.#unlock();
    }
  }

  async exec(sql: string): Promise<void> {
    await this.#lock();
    try {
      await this.#slices?.breathe();
      await this.#driver.exec(sql);
    } finally {
      this.#unlock();
    }
  }

  /** The fast path: the statements in one transaction, in one driver call. */
  async batch(statements: readonly SqlStatement[]): Promise<RunResult[]> {
    await this.#lock();
    try {
      await this.#slices?.breathe();
      return await this.#driver.batch(statements);
    } finally {
      this.#unlock();
    }
  }

  /**
   * Runs `fn` inside `BEGIN IMMEDIATE` … `COMMIT`; rolls back and rethrows when it throws. Must
   * not be called from inside another transaction of this database (it would wait forever).
   */
  async transaction<T>(
    fn: (tx: TransactionExecutor) => Promise<T>,
    options: TransactionOptions = {},
  ): Promise<T> {
    const tx = await this.begin(options);
    let result: T;
    try {
      result = await fn(tx);
    } catch (error) {
      await tx.rollback();
      throw error;
    }
    await tx.commit();
    return result;
  }

  /**
   * Opens a transaction and holds the lock until `commit()` or `rollback()`. A failed commit
   * rolls back and rethrows. Exactly one of them must be called.
   */
  async begin(options: TransactionOptions = {}): Promise<OpenTransaction> {
    await this.#lock();
    const driver = this.#driver;
    let ended = false;
    const end = async (sql: 'COMMIT' | 'ROLLBACK') => {
      if (ended) throw new FerryError('invalid_argument', 'the transaction has already ended');
      ended = true;
      try {
        try {
          await driver.run(sql);
        } catch (error) {
          if (sql === 'ROLLBACK') return;
          await driver.run('ROLLBACK').catch(() => undefined);
          throw error;
        }
      } finally {
        try {
          if (options.foreignKeysOff) await driver.run('PRAGMA foreign_keys = ON');
        } finally {
          this.#unlock();
        }
      }
    };
    try {
      if (options.foreignKeysOff) await driver.run('PRAGMA foreign_keys = OFF');
      await driver.run('BEGIN IMMEDIATE');
    } catch (error) {
      if (options.foreignKeysOff)
        await driver.run('PRAGMA foreign_keys = ON').catch(() => undefined);
      this.#unlock();
      throw error;
    }
    const active = () => {
      if (ended) throw new FerryError('invalid_argument', 'the transaction has already ended');
    };
    const slices = this.#slices;
    return {
      run(sql, params) {
        active();
        const turn = slices?.breathe();
        return turn ? turn.then(() => driver.run(sql, params)) : driver.run(sql, params);
      },
      all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]) {
        active();
        const turn = slices?.breathe();
        return turn ? turn.then(() => driver.all<R>(sql, params)) : driver.all<R>(sql, params);
      },
      exec(sql) {
        active();
        const turn = slices?.breathe();
        return turn ? turn.then(() => driver.exec(sql)) : driver.exec(sql);
      },
      pause: () => slices?.breathe(),
      commit: () => end('COMMIT'),
      rollback: () => end('ROLLBACK'),
    };
  }

  /** Waits for the current holder, then closes the driver. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#lock();
    try {
      if (this.#closed) return;
      this.#closed = true;
      await this.#driver.close();
    } finally {
      this.#unlock();
    }
  }

  #lock(): Promise<void> | void {
    if (this.#closed) throw new FerryError('closed', 'the client is closed');
    if (!this.#locked) {
      this.#locked = true;
      return;
    }
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  #unlock(): void {
    const next = this.#waiters.shift();
    if (next) next();
    else this.#locked = false;
  }
}

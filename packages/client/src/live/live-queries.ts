/**
 * Live queries: each watched query re-runs when a table it reads changes, and calls back only
 * when its rows differ from the last ones it delivered.
 *
 * Invariants:
 * 1. A watch calls back first with the query's current rows, then once per change of them;
 *    a re-run whose rows equal the last delivered ones (`sameRows`) does not call back.
 * 2. The tables a query reads are SQLite's own answer (`EXPLAIN`, see `statement-tables.ts`),
 *    never declared by the app.
 * 3. Changes are coalesced: every change announced in the same turn of the event loop (one
 *    transaction's, or a burst of them) re-runs a query at most once, and changes announced
 *    while it runs lead to one more run after it, never to a run per change.
 * 4. A watch that is stopped never calls back again; an error (a query that fails) goes to its
 *    error callback and the watch stays, to run again on the next change.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import { sameRows } from './same-rows.js';
import type { StatementTables } from './statement-tables.js';

/** What live queries need of the client. */
export interface LiveQueryHost {
  /** Runs a read. */
  all(sql: string, params: readonly SqlValue[]): Promise<SqlRow[]>;
  /** The tables a statement reads and writes. */
  tablesOf(sql: string, params: readonly SqlValue[]): Promise<StatementTables>;
}

/** Callbacks of one watch. */
export interface WatchCallbacks<R extends SqlRow> {
  readonly onResult: (rows: R[]) => void;
  readonly onError?: ((error: FerryError) => void) | undefined;
}

interface Watch {
  readonly sql: string;
  readonly params: readonly SqlValue[];
  readonly callbacks: WatchCallbacks<SqlRow>;
  /** Null until `EXPLAIN` answered. */
  tables: ReadonlySet<string> | null;
  last: SqlRow[] | null;
  running: boolean;
  dirty: boolean;
  stopped: boolean;
}

export class LiveQueries {
  readonly #host: LiveQueryHost;
  readonly #watches = new Set<Watch>();
  /** Tables changed since the last flush; `all` when a change named none. */
  #pending: Set<string> | 'all' | null = null;
  #closed = false;

  constructor(host: LiveQueryHost) {
    this.#host = host;
  }

  /** Watches `sql`; returns the function that stops the watch. */
  watch<R extends SqlRow>(
    sql: string,
    params: readonly SqlValue[],
    callbacks: WatchCallbacks<R>,
  ): () => void {
    if (this.#closed) throw new FerryError('closed', 'the client is closed');
    const watch: Watch = {
      sql,
      params: [...params],
      callbacks: callbacks as unknown as WatchCallbacks<SqlRow>,
      tables: null,
      last: null,
      running: false,
      dirty: true,
      stopped: false,
    };
    this.#watches.add(watch);
    void this.#start(watch);
    return () => {
      watch.stopped = true;
      this.#watches.delete(watch);
    };
  }

  /** Announces that these tables changed (`all`: any table may have). */
  changed(tables: Iterable<string> | 'all'): void {
    if (this.#closed) return;
    const first = this.#pending === null;
    if (tables === 'all' || this.#pending === 'all') this.#pending = 'all';
    else {
      this.#pending ??= new Set();
      for (const table of tables) this.#pending.add(table);
    }
    if (first) queueMicrotask(() => this.#flush());
  }

  /** Stops every watch. */
  close(): void {
    this.#closed = true;
    for (const watch of this.#watches) watch.stopped = true;
    this.#watches.clear();
  }

  get size(): number {
    return this.#watches.size;
  }

  #flush(): void {
    const changed = this.#pending;
    this.#pending = null;
    if (changed === null) return;
    for (const watch of this.#watches) {
      if (watch.tables === null) continue; // its first run is still to come and will see it
      if (changed === 'all' || [...watch.tables].some((table) => changed.has(table))) {
        watch.dirty = true;
        void this.#run(watch);
      }
    }
  }

  async #start(watch: Watch): Promise<void> {
    try {
      const { reads } = await this.#host.tablesOf(watch.sql, watch.params);
      watch.tables = reads;
    } catch (error) {
      this.#fail(watch, error);
      watch.tables = new Set();
      return;
    }
    await this.#run(watch);
  }

  /** Runs the query while it is dirty; one run at a time per watch. */
  async #run(watch: Watch): Promise<void> {
    if (watch.running) return;
    watch.running = true;
    try {
      while (watch.dirty && !watch.stopped) {
        watch.dirty = false;
        let rows: SqlRow[];
        try {
          rows = await this.#host.all(watch.sql, watch.params);
        } catch (error) {
          this.#fail(watch, error);
          continue;
        }
        if (watch.stopped) return;
        if (watch.last !== null && sameRows(watch.last, rows)) continue;
        watch.last = rows;
        try {
          watch.callbacks.onResult(rows);
        } catch (error) {
          this.#fail(watch, error);
        }
      }
    } finally {
      watch.running = false;
    }
  }

  #fail(watch: Watch, error: unknown): void {
    if (watch.stopped) return;
    const failure =
      error instanceof FerryError
        ? error
        : new FerryError(
            'invalid_argument',
            `live query failed: ${error instanceof Error ? error.message : String(error)}`,
            { cause: error },
          );
    try {
      watch.callbacks.onError?.(failure);
    } catch {
      // An error callback that throws has nowhere else to go.
    }
  }
}

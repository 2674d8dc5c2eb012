/**
 * The client facade: `createClient` and the {@link FerryClient} it returns. It validates the
 * options, sets up the file, builds its parts and wires the parts together: local writes
 * (`local/run-write`), the cycle runner (`sync/cycle-runner`), the scheduler and events stream
 * (`sync-runtime`), the status and events (`status/`), manual and settled conflicts
 * (`conflicts/`) and dead letters (`dead-letters/`). It holds no logic of its own beyond the
 * lifetime.
 *
 * @module
 */
import {
  FerryError,
  temporaryKey,
  subsetHistory,
  subsetSchema,
  type PrimaryKey,
  type RowOf,
  type Schema,
  type TableName,
} from '@ferry/protocol';
import { createClientParts, type ClientParts } from './client-parts.js';
import { setUpDatabase } from './client-setup.js';
import { listConflicts, resolveConflict } from './conflicts/manual-conflicts.js';
import { clearSettledConflicts, listSettledConflicts } from './conflicts/settled-conflicts.js';
import {
  discardDeadLetter,
  listDeadLetters,
  retryDeadLetter,
} from './dead-letters/dead-letter-api.js';
import { EventLoopSlices } from './driver/event-loop-slices.js';
import { SerialDatabase } from './driver/serial-database.js';
import type { RunResult, SqlRow, SqlStatement, SqlValue } from './driver/sqlite-driver.js';
import { affectedTables } from './live/affected-tables.js';
import { currentKey } from './local/key-map.js';
import { liveIterator } from './live/live-iterator.js';
import type { SyncScheduleOverrides } from './scheduler/sync-schedule.js';
import { LiveQueries } from './live/live-queries.js';
import { statementTablesReader } from './live/read-statement-tables.js';
import type { StatementTables } from './live/statement-tables.js';
import { runExecute, runWrite, type WriteTouched } from './local/run-write.js';
import { createSystemClock } from './scheduler/clock.js';
import type { CycleContext } from './scheduler/sync-scheduler.js';
import type { CycleKind, CycleOutcome } from './scheduler/sync-state-machine.js';
import { SYNC_METRIC_NAMES, type SyncMetrics } from './scheduler/sync-status.js';
import type { ClientEvent } from './status/client-observer.js';
import { readStatusCounts } from './status/refresh-status.js';
import { DEFAULT_ONLINE_PROBE_INTERVAL_MS, SyncRuntime } from './sync-runtime.js';
import { CycleRunner, type RunCycleOptions } from './sync/cycle-runner.js';
import type {
  ClientOptions,
  ClientState,
  ClientStatus,
  ConflictChoice,
  DeadLetter,
  ManualConflict,
  SettledConflict,
  SettledConflictsQuery,
  SyncNowResult,
  SyncOptions,
  SyncReport,
} from './types.js';
import type { WriteTransaction } from './write-transaction.js';

/** How long Ferry's work may run before it gives the event loop a turn (the target is < 50 ms). */
const EVENT_LOOP_SLICE_MS = 20;
/** The least time between two refreshes of the status's counts in a burst of work. */
const REFRESH_SPACING_MS = 100;

export type { ClientEvent } from './status/client-observer.js';
export type { RunCycleOptions } from './sync/cycle-runner.js';
export { subjectOf } from './sync/check-identity.js';
export type { ClientState };

/** What `client.execute` names itself: nothing (SQLite tells what its SQL writes). */
const NOTHING_TOUCHED: Omit<WriteTouched, 'executed'> = {
  tables: new Set(),
  deletedFrom: new Set(),
};

/**
 * A Ferry client: the app's local SQLite database, kept in sync with the server.
 *
 * Reads and writes are local and never wait on the network. With `autoSync` (the default) a
 * scheduler syncs in the background: after writes, on server pokes, periodically, on
 * reconnect, with backoff and a circuit breaker on failures. `sync()` runs one cycle
 * explicitly.
 */
export interface FerryClient<S extends Schema = Schema> extends AsyncDisposable {
  readonly schema: S;
  /** This install's writer id (it changes when Ferry rotates it: see `ClientOptions.sourceId`). */
  readonly sourceId: string;
  /**
   * The last known status: the engine's (outbox, checkpoint, conflicts, last error) and the
   * scheduler's (state, retries, circuit, realtime) in one value. Refreshed after every cycle
   * and state change, shortly after writes, and by {@link readStatus}.
   */
  readonly status: ClientStatus;
  /**
   * One local transaction; resolves after it committed locally. Every change to a synced table
   * inside it is captured for the next push, and the changes of one write always go out in the
   * same bundle.
   *
   * @example
   * await client.write((tx) => {
   *   tx.insert('lists', { id: listId, name: 'Groceries' });
   *   tx.insert('todos', { id: todoId, list_id: listId, title: 'milk' });
   * });
   */
  write<T>(fn: (tx: WriteTransaction<S>) => T | Promise<T>): Promise<Awaited<T>>;
  /** Runs SQL and returns its rows as SQLite gives them (booleans as 0/1, json as text). */
  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  /** The first row of {@link query}, or undefined. */
  get<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R | undefined>;
  /** One row of a synced table by primary key, as wire values (booleans, parsed json). */
  getRow<N extends TableName<S>>(table: N, pk: PrimaryKey): Promise<RowOf<S, N> | undefined>;
  /**
   * A live query: calls `onResult` with the rows of `sql` now, and again whenever they change,
   * through a local write, a pull, a hydration or a conflict's resolution. SQLite tells which
   * tables the query reads; changes are coalesced per transaction, and a re-run that finds the
   * same rows does not call back. Returns the function that stops it.
   *
   * @example
   * const stop = client.watch('SELECT * FROM todos WHERE list_id = ?', [listId], (rows) =>
   *   render(rows),
   * );
   */
  watch<R extends SqlRow = SqlRow>(
    sql: string,
    params: readonly SqlValue[],
    onResult: (rows: R[]) => void,
    options?: { readonly onError?: (error: FerryError) => void },
  ): () => void;
  /**
   * {@link watch} as an async iterator: each change's rows (the newest, when the loop is slower
   * than the changes). `break` or the signal stops it; a failing query throws.
   *
   * @example
   * for await (const rows of client.liveQuery('SELECT count(*) AS n FROM todos')) show(rows[0].n);
   */
  liveQuery<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
    options?: { readonly signal?: AbortSignal },
  ): AsyncIterableIterator<R[]>;
  /**
   * Starts background sync when it is not running: the scheduler of `autoSync` (its settings,
   * or the defaults for a client made with `autoSync: false`, each replaced by `schedule`'s). A
   * client made with `autoSync` (the default) is connected from the start.
   */
  connect(schedule?: SyncScheduleOverrides): void;
  /**
   * Stops background sync: the cycle in flight is aborted (a bundle in flight stays frozen and
   * is sent again, unchanged, after `connect()`), the events stream closes, and no cycle runs
   * until `connect()` or an explicit `sync()`. Local reads and writes go on. "Work offline".
   */
  disconnect(): Promise<void>;
  /**
   * Tells the client that code outside it changed these tables (another tab, another
   * connection to the file): live queries that read them run again, and with background sync
   * a push follows as after a local write.
   */
  tablesChanged(tables: readonly string[]): void;
  /** A SQL write in its own transaction; changes to synced tables are captured. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  /** Runs one sync cycle (push and pull until both are done) and reports what it did. */
  sync(options?: SyncOptions): Promise<SyncReport>;
  /** Replaces the server state from a snapshot now; pending local changes survive on top. */
  hydrate(options?: { readonly signal?: AbortSignal }): Promise<SyncReport>;
  /** The cycle the scheduler runs (same as `sync`). */
  runCycle(options: RunCycleOptions): Promise<SyncReport>;
  /**
   * Syncs as soon as possible: bypasses the debounce, the throttle, a backoff and an open
   * circuit (and retries after a 401 that blocked sync). Resolves when the cycle run for this
   * request ended, or at once when none can run (offline, closed); never rejects.
   */
  syncNow(): Promise<SyncNowResult>;
  /** Connectivity changed: offline pauses sync (and aborts a running cycle); online syncs at once. */
  setOnline(online: boolean): void;
  /** The app moved to the foreground or the background (periodic sync 30 s or 5 min; events only in front). */
  setForeground(foreground: boolean): void;
  /**
   * The counters, as a plain object for OpenTelemetry or Prometheus exporters: cycles
   * (succeeded, failed, aborted), pushes, pulls, hydrations, retries, pokes, auth refreshes,
   * circuit openings, rows pushed and pulled, conflicts, values replaced by conflict policies
   * (`settledConflicts`: journal entries written), dead letters, bytes sent and received.
   */
  metrics(): SyncMetrics;
  /** Refreshes the counts of the status from the database. */
  readStatus(): Promise<ClientStatus>;
  conflicts(): Promise<ManualConflict[]>;
  resolveConflict(id: number, choice: ConflictChoice): Promise<void>;
  /**
   * The journal of settled conflicts, newest first: every value a conflict policy replaced
   * (this device's change that lost, or the server's row that lost), with the rule, the values
   * that lost and won, and when. Keeps the newest `maxSettledConflicts` (1,000) entries.
   *
   * @example
   * for (const entry of await client.settledConflicts({ limit: 20 })) {
   *   if (entry.loser === 'local') notify(`your ${entry.columns.join(', ')} was replaced`);
   * }
   */
  settledConflicts(query?: SettledConflictsQuery): Promise<SettledConflict[]>;
  /**
   * Removes journal entries the app has dealt with: those up to id `throughId` (the newest one
   * it showed; entries journaled since stay), or all. Resolves with how many were removed.
   */
  clearSettledConflicts(options?: { readonly throughId?: number }): Promise<number>;
  deadLetters(): Promise<DeadLetter[]>;
  /**
   * A new temporary key for a row of `table`, whose keys the server assigns (`keys: 'server'`),
   * for inserts written as SQL (`tx.insert` fills one in by itself). Throws `invalid_argument` for
   * a table whose keys are the client's.
   */
  temporaryKey(table: TableName<S>): PrimaryKey;
  /**
   * The key a row of `table` has now: the server's key for a temporary key the row was inserted
   * under once its push committed, else `key` itself (for keys the app kept from before).
   */
  resolveKey(table: TableName<S>, key: PrimaryKey): Promise<PrimaryKey>;
  /** Puts a dead-lettered change back in the outbox (edit the row first if it was invalid). */
  retryDeadLetter(id: number): Promise<void>;
  /** Drops a dead-lettered change: the row returns to its server state. */
  discardDeadLetter(id: number): Promise<void>;
  /** Listens to status changes, local writes and remote changes; returns the unsubscribe function. */
  subscribe(listener: (event: ClientEvent) => void): () => void;
  /**
   * Stops the scheduler and the events stream, aborts a running cycle and waits for it, and
   * closes the database. The outbox stays as it is (a bundle in flight is resent by the next
   * client on the file). Idempotent.
   */
  close(): Promise<void>;
}

/**
 * Opens (and on first use sets up) the local database for `schema` and returns the client.
 *
 * @example
 * import { createClient } from '@ferry/client';
 * import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
 *
 * const client = await createClient({
 *   schema: todoSchema,
 *   driver: betterSqlite3Driver('./todos.db'),
 *   url: 'https://sync.example.com',
 *   getToken: async () => auth.currentToken(),
 * });
 * // Synced in the background: after the debounce, on pokes, periodically.
 * await client.write((tx) => tx.insert('lists', { id: crypto.randomUUID(), name: 'Inbox' }));
 * client.subscribe((event) => event.type === 'status' && render(event.status));
 * await client.syncNow(); // or now, bypassing debounce and backoff
 */
export async function createClient<S extends Schema>(
  given: ClientOptions<S>,
): Promise<FerryClient<S>> {
  if (!given.schema || typeof given.schema.table !== 'function') {
    throw new FerryError('invalid_argument', 'schema must be a Schema made by defineSchema()');
  }
  const options = syncedPart(given);
  if (typeof options.getToken !== 'function') {
    throw new FerryError('invalid_argument', 'getToken must be a function');
  }
  let base: URL;
  try {
    base = new URL(options.url);
  } catch (error) {
    throw new FerryError('invalid_argument', `url is not a valid URL: ${String(options.url)}`, {
      cause: error,
    });
  }
  // Long steps give the event loop a turn every slice of wall time (see EventLoopSlices). Not
  // with a clock of the app's own: it owns time and waiting (the simulator's virtual clock runs
  // its world on microtasks alone, where a turn of the real event loop never comes).
  const slices = options.clock
    ? undefined
    : new EventLoopSlices(() => performance.now(), EVENT_LOOP_SLICE_MS);
  const db = new SerialDatabase(options.driver, slices);
  try {
    const setup = await setUpDatabase(db, options);
    const autoSync = options.autoSync ?? true;
    const realtime = autoSync !== false && (options.realtime ?? true) !== false;
    const parts = createClientParts(options, db, setup, base.toString(), realtime);
    const client = new Client(options, parts, base.toString());
    client.start();
    return client;
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}

class Client<S extends Schema> implements FerryClient<S> {
  readonly schema: S;
  readonly #parts: ClientParts;
  readonly #cycles: CycleRunner;
  readonly #options: ClientOptions<S>;
  readonly #url: string;
  #runtime: SyncRuntime | null;
  readonly #tablesOf: (sql: string, params?: readonly SqlValue[]) => Promise<StatementTables>;
  readonly #live: LiveQueries;
  #closing: Promise<void> | undefined;
  #refreshScheduled = false;
  /** When the last scheduled refresh of the status ended and how long it took (performance.now). */
  #lastRefresh = { end: 0, took: 0 };

  constructor(options: ClientOptions<S>, parts: ClientParts, url: string) {
    this.schema = options.schema;
    this.#parts = parts;
    this.#tablesOf = statementTablesReader(parts.db);
    this.#live = new LiveQueries({
      all: (sql, params) => parts.db.all(sql, params),
      tablesOf: this.#tablesOf,
    });
    // Server data written to local tables (pulls, snapshots, adopted conflicts): live queries
    // that read them look again.
    parts.observer.subscribe((event) => {
      if (event.type === 'remote-change') {
        this.#live.changed(affectedTables(options.schema, event.tables));
      }
    });
    this.#cycles = new CycleRunner(parts, {
      isOpen: () => this.#isOpen(),
      refreshStatus: () => this.readStatus(),
    });
    const online = options.online ?? true;
    if (typeof online !== 'boolean' && typeof online !== 'function') {
      throw new FerryError('invalid_argument', 'online must be a boolean or a probe function');
    }
    const probeMs = options.onlineProbeIntervalMs ?? DEFAULT_ONLINE_PROBE_INTERVAL_MS;
    if (!Number.isFinite(probeMs) || probeMs < 1) {
      throw new FerryError('invalid_argument', 'onlineProbeIntervalMs must be a number ≥ 1');
    }
    this.#options = options;
    this.#url = url;
    this.#runtime = (options.autoSync ?? true) === false ? null : this.#createRuntime(online);
    this.#scheduleRefresh();
  }

  get sourceId(): string {
    return this.#parts.ctx.sourceId;
  }

  get status(): ClientStatus {
    return this.#parts.observer.status;
  }

  /** Starts background sync (createClient calls it once the client is set up). */
  start(): void {
    this.#runtime?.start();
  }

  connect(schedule: SyncScheduleOverrides = {}): void {
    this.#assertOpen();
    if (this.#runtime) return;
    const online = this.#options.online;
    this.#runtime = this.#createRuntime(
      typeof online === 'function' ? online : this.#parts.observer.engine.online,
      schedule,
    );
    this.#runtime.start();
  }

  async disconnect(): Promise<void> {
    const runtime = this.#runtime;
    if (!runtime) return;
    this.#runtime = null;
    const { online, foreground } = runtime.scheduler.status;
    await runtime.close();
    this.#parts.observer.setScheduler(null);
    this.#parts.observer.setStatus({ online, foreground });
  }

  tablesChanged(tables: readonly string[]): void {
    if (!this.#isOpen()) return;
    this.#live.changed(affectedTables(this.schema, tables));
    this.#runtime?.notifyWrite();
    this.#scheduleRefresh();
  }

  /**
   * The scheduler of background sync, with the app's settings (`autoSync` as overrides of the
   * schedule, `realtime`, the online probe); its status goes to the observer.
   */
  #createRuntime(
    online: boolean | (() => boolean | Promise<boolean>),
    schedule: SyncScheduleOverrides = {},
  ): SyncRuntime {
    const options = this.#options;
    const parts = this.#parts;
    const autoSync = options.autoSync ?? true;
    const realtime = options.realtime ?? true;
    const realtimeOptions = typeof realtime === 'object' ? realtime : {};
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    parts.observer.setScheduler({ realtime: realtime !== false });
    return new SyncRuntime({
      runCycle: (kind, signal, cycle) => this.#scheduledCycle(kind, signal, cycle),
      refreshAuth: () => parts.tokens.refresh(),
      schedule: { ...(typeof autoSync === 'object' ? autoSync : {}), ...schedule },
      clock: options.clock ?? createSystemClock(),
      random: options.random ?? Math.random,
      events:
        realtime !== false
          ? {
              url: realtimeOptions.url ?? `${this.#url.replace(/\/+$/, '')}/v1/events`,
              getToken: () => parts.tokens.get(),
              fetch: fetchImpl,
              schemaVersion: options.schema.version,
              ...(realtimeOptions.tokenIn ? { tokenIn: realtimeOptions.tokenIn } : {}),
              ...(realtimeOptions.heartbeatTimeoutMs !== undefined
                ? { heartbeatTimeoutMs: realtimeOptions.heartbeatTimeoutMs }
                : {}),
              ...(realtimeOptions.backoff ? { backoff: realtimeOptions.backoff } : {}),
            }
          : null,
      online,
      onlineProbeIntervalMs: options.onlineProbeIntervalMs ?? DEFAULT_ONLINE_PROBE_INTERVAL_MS,
      foreground: parts.observer.status.foreground,
      onStatus: (status) => parts.observer.setSchedulerStatus(status),
      onError: (error) => parts.observer.reportError(error),
      onLog: options.onLog,
    });
  }

  // ---- scheduling -------------------------------------------------------------------------

  syncNow(): Promise<SyncNowResult> {
    if (!this.#isOpen()) return Promise.resolve({ ok: false, status: this.status });
    if (this.#runtime) {
      return this.#runtime.syncNow().then((result) => ({ ok: result.ok, status: this.status }));
    }
    return this.sync().then(
      () => ({ ok: true, status: this.status }),
      () => ({ ok: false, status: this.status }),
    );
  }

  setOnline(online: boolean): void {
    if (typeof online !== 'boolean') {
      throw new FerryError('invalid_argument', 'setOnline takes a boolean');
    }
    if (this.#closing) return;
    if (this.#runtime) this.#runtime.setOnline(online);
    else this.#parts.observer.setStatus({ online });
  }

  setForeground(foreground: boolean): void {
    if (typeof foreground !== 'boolean') {
      throw new FerryError('invalid_argument', 'setForeground takes a boolean');
    }
    if (this.#closing) return;
    if (this.#runtime) this.#runtime.setForeground(foreground);
    else this.#parts.observer.setStatus({ foreground });
  }

  metrics(): SyncMetrics {
    const metrics = { ...this.#parts.metrics };
    if (this.#runtime) {
      const scheduled = this.#runtime.metrics();
      for (const name of SYNC_METRIC_NAMES) metrics[name] += scheduled[name];
    }
    return metrics;
  }

  /** The scheduler's cycle: the engine's, with what the machine needs to know. */
  async #scheduledCycle(
    kind: CycleKind,
    signal: AbortSignal,
    cycle: CycleContext,
  ): Promise<CycleOutcome> {
    const report = await this.#cycles.run(
      { kind, signal, onPhase: (phase) => cycle.reportPhase(phase) },
      true,
    );
    return { bundleSeq: report.bundleSeq, morePush: report.morePush, morePull: report.morePull };
  }

  // ---- local reads and writes -------------------------------------------------------------

  async write<T>(fn: (tx: WriteTransaction<S>) => T | Promise<T>): Promise<Awaited<T>> {
    this.#assertOpen();
    const { value, touched } = await runWrite(this.#parts, fn);
    this.#wrote(touched, touched.executed);
    return value;
  }

  async query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    this.#assertOpen();
    return this.#parts.db.all<R>(sql, params);
  }

  async get<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  async getRow<N extends TableName<S>>(table: N, pk: PrimaryKey): Promise<RowOf<S, N> | undefined> {
    const codec = this.#parts.ctx.codecs.get(table);
    if (!codec) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    const rows = await this.query(codec.selectSql, [codec.encodePk(pk)]);
    return rows[0] ? (codec.decode(rows[0]) as RowOf<S, N>) : undefined;
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    this.#assertOpen();
    const result = await runExecute(this.#parts, sql, params);
    this.#wrote(NOTHING_TOUCHED, [{ sql, params: params ?? [] }]);
    return result;
  }

  watch<R extends SqlRow = SqlRow>(
    sql: string,
    params: readonly SqlValue[],
    onResult: (rows: R[]) => void,
    options: { readonly onError?: (error: FerryError) => void } = {},
  ): () => void {
    this.#assertOpen();
    return this.#live.watch<R>(sql, params, { onResult, onError: options.onError });
  }

  liveQuery<R extends SqlRow = SqlRow>(
    sql: string,
    params: readonly SqlValue[] = [],
    options: { readonly signal?: AbortSignal } = {},
  ): AsyncIterableIterator<R[]> {
    this.#assertOpen();
    return liveIterator<R>((callbacks) => this.#live.watch(sql, params, callbacks), options.signal);
  }

  /**
   * A local write committed: tell listeners and live queries which tables it can have changed
   * (those it named, the cascades of its deletes, and those its own SQL writes as SQLite tells
   * with their cascades), and the scheduler (a debounced push follows).
   */
  #wrote(touched: Omit<WriteTouched, 'executed'>, executed: readonly SqlStatement[]): void {
    this.#runtime?.notifyWrite();
    this.#scheduleRefresh();
    const announce = (mayDelete: Iterable<string>) => {
      const changed = [...new Set([...touched.tables, ...affectedTables(this.schema, mayDelete)])];
      this.#live.changed(changed);
      this.#parts.observer.emit({ type: 'write', tables: changed });
    };
    if (executed.length === 0) {
      announce(touched.deletedFrom);
      return;
    }
    const all = this.schema.tables.map((table) => table.name);
    void Promise.all(
      executed.map(({ sql, params }) =>
        this.#tablesOf(sql, params).then(
          ({ writes }) => [...writes],
          // A statement SQLite cannot explain again (it dropped what it named): any table.
          () => all,
        ),
      ),
    ).then((lists) => announce([...touched.deletedFrom, ...lists.flat()]));
  }

  // ---- sync -------------------------------------------------------------------------------

  async sync(options: SyncOptions = {}): Promise<SyncReport> {
    const report = await this.runCycle({
      kind: options.kind ?? 'full',
      signal: options.signal,
      maxRoundTrips: options.maxRoundTrips,
    });
    // An explicit sync that worked is evidence that the server is back: a scheduler waiting
    // out a backoff or an open circuit tries at once, and its success closes the circuit.
    const { state, circuit } = this.status;
    if (this.#runtime && (state === 'backoff' || state === 'paused' || circuit !== 'closed')) {
      void this.#runtime.syncNow();
    }
    return report;
  }

  hydrate(options: { readonly signal?: AbortSignal } = {}): Promise<SyncReport> {
    return this.runCycle({ kind: 'hydrate', signal: options.signal });
  }

  runCycle(options: RunCycleOptions): Promise<SyncReport> {
    return this.#cycles.run(options, false);
  }

  // ---- status -----------------------------------------------------------------------------

  async readStatus(): Promise<ClientStatus> {
    this.#assertOpen();
    const parts = this.#parts;
    parts.recorder.record(await readStatusCounts(parts));
    return parts.observer.status;
  }

  subscribe(listener: (event: ClientEvent) => void): () => void {
    return this.#parts.observer.subscribe(listener);
  }

  /**
   * Refreshes the counts once the current burst of work is over. The counts cost time that
   * grows with the pending rows, and a long burst of writes gives the event loop a turn every
   * slice, so refreshes are spaced: the next one waits until 100 ms, or ten times as long as the
   * last one took, have passed since it ended (refreshing then takes at most about a tenth of the
   * time). The first refresh after a quiet while comes at once, and the last one after a burst
   * always comes.
   */
  #scheduleRefresh(): void {
    if (this.#refreshScheduled) return;
    this.#refreshScheduled = true;
    const spacing = Math.max(REFRESH_SPACING_MS, 10 * this.#lastRefresh.took);
    const wait = Math.max(0, this.#lastRefresh.end + spacing - performance.now());
    const timer = setTimeout(() => {
      this.#refreshScheduled = false;
      if (!this.#isOpen()) return;
      const started = performance.now();
      this.readStatus()
        .then(() => {
          const end = performance.now();
          this.#lastRefresh = { end, took: end - started };
        })
        .catch(() => undefined);
    }, wait);
    (timer as { unref?: () => void }).unref?.();
  }

  // ---- conflicts and dead letters ---------------------------------------------------------

  async conflicts(): Promise<ManualConflict[]> {
    this.#assertOpen();
    return listConflicts(this.#parts);
  }

  async resolveConflict(id: number, choice: ConflictChoice): Promise<void> {
    this.#assertOpen();
    await resolveConflict(this.#parts, id, choice);
    this.#changedAnyTable();
    await this.readStatus();
    this.#runtime?.notifyWrite();
  }

  async settledConflicts(query?: SettledConflictsQuery): Promise<SettledConflict[]> {
    this.#assertOpen();
    return listSettledConflicts(this.#parts, query);
  }

  async clearSettledConflicts(options?: { readonly throughId?: number }): Promise<number> {
    this.#assertOpen();
    const removed = await clearSettledConflicts(this.#parts, options);
    await this.readStatus();
    return removed;
  }

  async deadLetters(): Promise<DeadLetter[]> {
    this.#assertOpen();
    return listDeadLetters(this.#parts);
  }

  temporaryKey(table: TableName<S>): PrimaryKey {
    return temporaryKey(this.schema.requireTable(table));
  }

  async resolveKey(table: TableName<S>, key: PrimaryKey): Promise<PrimaryKey> {
    this.#assertOpen();
    const codec = this.#parts.ctx.codecs.get(table);
    if (!codec) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    return currentKey(this.#parts.db, codec, key);
  }

  async retryDeadLetter(id: number): Promise<void> {
    this.#assertOpen();
    await retryDeadLetter(this.#parts, id);
    await this.readStatus();
    this.#runtime?.notifyWrite();
  }

  async discardDeadLetter(id: number): Promise<void> {
    this.#assertOpen();
    await discardDeadLetter(this.#parts, id);
    this.#changedAnyTable();
    await this.readStatus();
  }

  // ---- lifetime ---------------------------------------------------------------------------

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The scheduler aborts its cycle itself, so that it sees the abort as its own.
      const runtime = this.#runtime?.close();
      this.#cycles.abort(new FerryError('closed', 'the client is closing'));
      await runtime?.catch(() => undefined);
      await this.#cycles.settled();
      this.#live.close();
      await this.#parts.db.close();
      this.#parts.observer.setStatus({ state: 'closed' });
      this.#parts.observer.unsubscribeAll();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** A resolution or a discard rewrote local rows of some table: every live query looks again. */
  #changedAnyTable(): void {
    const tables = this.schema.tables.map((table) => table.name);
    this.#live.changed(tables);
    this.#parts.observer.emit({ type: 'write', tables });
  }

  #isOpen(): boolean {
    return this.#closing === undefined && !this.#parts.db.closed;
  }

  #assertOpen(): void {
    if (!this.#isOpen()) throw new FerryError('closed', 'the client is closed');
  }
}

/**
 * The options with `schema` (and `history`) narrowed to the tables the client syncs (`tables`,
 * selective sync): the client runs entirely on that part of the schema, and migrates its file
 * along that part of each version. Refuses a child table without its parent.
 */
function syncedPart<S extends Schema>(options: ClientOptions<S>): ClientOptions<S> {
  if (options.tables === undefined) return options;
  return {
    ...options,
    schema: subsetSchema(options.schema, options.tables) as S,
    ...(options.history === undefined
      ? {}
      : { history: subsetHistory(options.history, options.tables) }),
  };
}

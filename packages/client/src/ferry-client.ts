import {
  DEFAULT_LIMITS,
  FerryError,
  ForbiddenDetailsSchema,
  PROTOCOL_VERSION,
  PullResponseSchema,
  PushResponseSchema,
  SourceIdSchema,
  SyncResponseSchema,
  BundleErrorDetailsSchema,
  ValidationDetailsSchema,
  isFerryError,
  type Bundle,
  type Conflict,
  type PrimaryKey,
  type PullResponse,
  type Row,
  type RowOf,
  type Schema,
  type TableName,
} from '@ferry/protocol';
import { applyBundles, restoreServerRow, settleFrozenChange } from './apply/apply-bundles.js';
import { failureRecordOf, mergeClientStatus, type EngineStatus } from './client-status.js';
import { countingFetch } from './counting-fetch.js';
import { TEMP_TABLES_SQL, applySnapshot, downloadSnapshot } from './apply/hydrate.js';
import type { IntegrityViolation } from './apply/integrity-gate.js';
import { SerialDatabase, type TransactionExecutor } from './driver/serial-database.js';
import type { RunResult, SqlRow, SqlValue } from './driver/sqlite-driver.js';
import type { EngineContext } from './engine-context.js';
import {
  METADATA_FORMAT,
  METADATA_SQL,
  captureTriggersSql,
  columnSql,
  createTableSql,
  dropCaptureTriggersSql,
  quoteIdent,
  referenceIndexSql,
} from './local/local-schema-sql.js';
import {
  clearFrozenBundle,
  deletePending,
  foldCaptureLog,
  parseRow,
  readFrozenBundle,
  readPending,
  readRowState,
  readState,
  setApplying,
  wireChangeOf,
  writePending,
  writeState,
  type FrozenBundle,
} from './local/metadata.js';
import { createTableCodecs, type TableCodec } from './local/table-codec.js';
import { freezeNextBundle, requeueChange, unfreezeChange } from './outbox/freeze-bundle.js';
import { createSystemClock, type Clock } from './scheduler/clock.js';
import type { LogEntry, LogLevel } from './scheduler/log-entry.js';
import type { CycleContext } from './scheduler/sync-scheduler.js';
import type { CycleKind, CycleOutcome } from './scheduler/sync-state-machine.js';
import {
  SYNC_METRIC_NAMES,
  emptySyncMetrics,
  type SyncMetrics,
  type SyncStatus,
} from './scheduler/sync-status.js';
import { DEFAULT_ONLINE_PROBE_INTERVAL_MS, SyncRuntime } from './sync-runtime.js';
import { deadLetterChanges, type RejectedChange } from './sync/dead-letters.js';
import {
  createResolverLookup,
  settleConflicts,
  type ResolverLookup,
} from './sync/settle-conflicts.js';
import { Transport, fetchToken, parseAnswer } from './sync/transport.js';
import type {
  ClientOptions,
  ClientState,
  ClientStatus,
  ConflictChoice,
  ConflictReport,
  DeadLetter,
  DeadLetterReport,
  HookPoint,
  GetTokenOptions,
  ManualConflict,
  SyncKind,
  SyncNowResult,
  SyncOptions,
  SyncReport,
} from './types.js';
import { WriteRecorder, type WriteTransaction } from './write-transaction.js';

/**
 * Something that happened in the client:
 * - `status`: the status changed;
 * - `write`: a local write committed through this client (`write`, `execute`); writes made by
 *   other connections to the file are not seen (the next cycle still pushes them);
 * - `remote-change`: server data was written to the local tables (pulled bundles, a snapshot,
 *   our own bundle's authoritative rows): re-run the queries that show them.
 */
export type ClientEvent =
  | { readonly type: 'status'; readonly status: ClientStatus }
  | { readonly type: 'write' }
  | {
      readonly type: 'remote-change';
      /** The tables that changed. */
      readonly tables: readonly string[];
      /** Row effects applied. */
      readonly rows: number;
      /** The checkpoint after the change. */
      readonly checkpoint: number;
    };

/** Options of {@link FerryClient.runCycle}, the entry point of the scheduler. */
export interface RunCycleOptions {
  readonly kind: SyncKind;
  readonly signal?: AbortSignal | undefined;
  readonly maxRoundTrips?: number | undefined;
  /** Called in a `full` cycle once the push half is done and only pulling is left. */
  readonly onPhase?: ((phase: 'pull') => void) | undefined;
}

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
  /** This install's writer id. */
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
   * circuit openings, rows pushed and pulled, conflicts, dead letters, bytes sent and received.
   */
  metrics(): SyncMetrics;
  /** Refreshes the counts of the status from the database. */
  readStatus(): Promise<ClientStatus>;
  conflicts(): Promise<ManualConflict[]>;
  resolveConflict(id: number, choice: ConflictChoice): Promise<void>;
  deadLetters(): Promise<DeadLetter[]>;
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

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_ROUND_TRIPS = 1_000;
/** Room for the request envelope around the changes, in bytes. */
const ENVELOPE_BYTES = 64 * 1024;

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
  options: ClientOptions<S>,
): Promise<FerryClient<S>> {
  if (!options.schema || typeof options.schema.table !== 'function') {
    throw new FerryError('invalid_argument', 'schema must be a Schema made by defineSchema()');
  }
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
  const db = new SerialDatabase(options.driver);
  try {
    const setup = await setUpDatabase(db, options);
    const client = new Client(options, db, setup, base.toString());
    client.start();
    return client;
  } catch (error) {
    await db.close().catch(() => undefined);
    throw error;
  }
}

interface SetupResult {
  readonly sourceId: string;
  readonly userId: string | null;
}

async function setUpDatabase(db: SerialDatabase, options: ClientOptions): Promise<SetupResult> {
  const schema = options.schema;
  await db.exec(METADATA_SQL);
  await db.exec(TEMP_TABLES_SQL);
  return db.transaction(async (tx) => {
    const format = await readState(tx, 'format');
    if (format !== null && format !== METADATA_FORMAT) {
      throw new FerryError(
        'not_supported',
        `this database was written by a Ferry client with metadata format ${JSON.stringify(format)}`,
      );
    }
    await writeState(tx, 'format', METADATA_FORMAT);
    const fingerprint = await readState(tx, 'schema_fingerprint');
    const changed = fingerprint !== null && fingerprint !== schema.fingerprint;
    for (const table of schema.tables) {
      await tx.exec(createTableSql(table));
      if (changed) await addMissingColumns(tx, table.name, schema);
      for (const sql of referenceIndexSql(table)) await tx.exec(sql);
      if (changed) for (const sql of dropCaptureTriggersSql(table.name)) await tx.exec(sql);
      for (const sql of captureTriggersSql(table)) await tx.exec(sql);
    }
    if (fingerprint !== schema.fingerprint) {
      await writeState(tx, 'schema_fingerprint', schema.fingerprint);
      // A changed schema may have changed what the server holds: start over from a snapshot.
      if (changed) await writeState(tx, 'needs_hydration', 1);
    }
    let sourceId = (await readState(tx, 'source_id')) as string | null;
    if (options.sourceId !== undefined) {
      if (!SourceIdSchema.safeParse(options.sourceId).success) {
        throw new FerryError('invalid_argument', 'sourceId must be a UUID');
      }
      const wanted = options.sourceId.toLowerCase();
      if (sourceId !== null && sourceId !== wanted) {
        throw new FerryError(
          'invalid_argument',
          `this database already belongs to source ${sourceId}; a source id is chosen once per install`,
        );
      }
      sourceId = wanted;
    }
    sourceId ??= globalThis.crypto.randomUUID();
    await writeState(tx, 'source_id', sourceId);
    if ((await readState(tx, 'next_source_bundle_id')) === null) {
      await writeState(tx, 'next_source_bundle_id', 1);
    }
    return { sourceId, userId: (await readState(tx, 'user_id')) as string | null };
  });
}

async function addMissingColumns(tx: TransactionExecutor, tableName: string, schema: Schema) {
  const table = schema.requireTable(tableName);
  const existing = await tx.all<{ name: string }>(`PRAGMA table_info(${quoteIdent(tableName)})`);
  const names = new Set(existing.map((c) => c.name));
  for (const column of table.columns) {
    if (names.has(column.name)) continue;
    // SQLite cannot add a NOT NULL column without a default, nor a primary key.
    const definition = columnSql(table, column.name).replace(' NOT NULL', '');
    await tx.exec(`ALTER TABLE ${quoteIdent(tableName)} ADD COLUMN ${definition}`);
  }
}

interface MutableReport {
  pushed: number;
  bundlesPushed: number;
  pulled: number;
  bundlesPulled: number;
  conflicts: ConflictReport[];
  deadLettered: DeadLetterReport[];
  hydrated: boolean;
  warnings: IntegrityViolation[];
  morePush: boolean;
  morePull: boolean;
}

class Client<S extends Schema> implements FerryClient<S> {
  readonly schema: S;
  readonly sourceId: string;
  readonly #options: ClientOptions<S>;
  readonly #db: SerialDatabase;
  readonly #codecs: ReadonlyMap<string, TableCodec>;
  readonly #ctx: EngineContext;
  readonly #transport: Transport;
  readonly #resolverOf: ResolverLookup;
  readonly #now: () => number;
  readonly #closer = new AbortController();
  readonly #listeners = new Set<(event: ClientEvent) => void>();
  readonly #timeoutMs: number;
  #maxChanges: number;
  readonly #maxBytes: number;
  #userId: string | null;
  /** The engine's own status; {@link status} merges it with the scheduler's. */
  #engine: EngineStatus;
  #sync: SyncStatus | null = null;
  #status: ClientStatus;
  readonly #runtime: SyncRuntime | null;
  readonly #realtime: boolean;
  /** Counters of the engine, and of cycles the app ran itself (the scheduler counts its own). */
  readonly #metrics = emptySyncMetrics();
  /** The last token getToken gave, to tell whether a forced refresh gave a new one. */
  #lastToken: string | null = null;
  readonly #getToken: (options?: GetTokenOptions) => Promise<string>;
  #cycles: Promise<unknown> = Promise.resolve();
  #closing: Promise<void> | undefined;
  #refreshScheduled = false;

  constructor(options: ClientOptions<S>, db: SerialDatabase, setup: SetupResult, url: string) {
    this.schema = options.schema;
    this.sourceId = setup.sourceId;
    this.#options = options;
    this.#db = db;
    this.#userId = setup.userId;
    const clock: Clock | undefined = options.clock;
    this.#now = options.now ?? (clock ? () => clock.now() : Date.now);
    this.#codecs = createTableCodecs(options.schema);
    const hooks = options.hooks;
    this.#ctx = {
      schema: options.schema,
      codecs: this.#codecs,
      sourceId: setup.sourceId,
      now: this.#now,
      hook: hooks?.at ? (point: HookPoint) => hooks.at!(point) : () => undefined,
      faults: options.__unsafeFaults,
    };
    this.#timeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.#getToken = async (tokenOptions) => {
      const token = await options.getToken(tokenOptions);
      if (typeof token === 'string' && token.length > 0) this.#lastToken = token;
      return token;
    };
    const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#transport = new Transport({
      url,
      fetch: countingFetch(fetchImpl, {
        sent: (bytes) => (this.#metrics.bytesSent += bytes),
        received: (bytes) => (this.#metrics.bytesReceived += bytes),
      }),
      getToken: this.#getToken,
      timeoutMs: this.#timeoutMs,
      clock,
    });
    this.#resolverOf = createResolverLookup(this.#ctx, options.resolvers);
    this.#maxChanges = Math.min(
      options.limits?.maxChanges ?? DEFAULT_LIMITS.maxChanges,
      DEFAULT_LIMITS.maxChanges,
    );
    this.#maxBytes = Math.max(
      1024,
      (options.limits?.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes) - ENVELOPE_BYTES,
    );
    const autoSync = options.autoSync ?? true;
    const realtime = options.realtime ?? true;
    this.#realtime = autoSync !== false && realtime !== false;
    this.#engine = {
      state: 'idle',
      pending: 0,
      oldestPendingAt: null,
      oldestPendingAgeMs: null,
      inFlight: null,
      lastPushAt: null,
      lastPullAt: null,
      lastSyncAt: null,
      checkpoint: null,
      conflicts: 0,
      deadLetters: 0,
      lastError: null,
      integrity: null,
      sourceId: setup.sourceId,
      userId: setup.userId,
      online: typeof options.online === 'boolean' ? options.online : true,
      foreground: options.foreground ?? true,
      consecutiveFailures: 0,
      lastFailure: null,
    };
    this.#status = mergeClientStatus(this.#engine, null, false);
    if (autoSync === false) {
      this.#runtime = null;
    } else {
      const realtimeOptions = typeof realtime === 'object' ? realtime : {};
      const online = options.online ?? true;
      if (typeof online !== 'boolean' && typeof online !== 'function') {
        throw new FerryError('invalid_argument', 'online must be a boolean or a probe function');
      }
      const probeMs = options.onlineProbeIntervalMs ?? DEFAULT_ONLINE_PROBE_INTERVAL_MS;
      if (!Number.isFinite(probeMs) || probeMs < 1) {
        throw new FerryError('invalid_argument', 'onlineProbeIntervalMs must be a number ≥ 1');
      }
      this.#runtime = new SyncRuntime({
        runCycle: (kind, signal, cycle) => this.#scheduledCycle(kind, signal, cycle),
        refreshAuth: () => this.#refreshToken(),
        schedule: autoSync === true ? {} : autoSync,
        clock: clock ?? createSystemClock(),
        random: options.random ?? Math.random,
        events: this.#realtime
          ? {
              url: realtimeOptions.url ?? `${url.replace(/\/+$/, '')}/v1/events`,
              getToken: () => this.#getToken(),
              fetch: fetchImpl,
              ...(realtimeOptions.tokenIn ? { tokenIn: realtimeOptions.tokenIn } : {}),
              ...(realtimeOptions.heartbeatTimeoutMs !== undefined
                ? { heartbeatTimeoutMs: realtimeOptions.heartbeatTimeoutMs }
                : {}),
              ...(realtimeOptions.backoff ? { backoff: realtimeOptions.backoff } : {}),
            }
          : null,
        online,
        onlineProbeIntervalMs: probeMs,
        foreground: options.foreground ?? true,
        onStatus: (status) => {
          this.#sync = status;
          this.#publishStatus();
        },
        onError: (error) => this.#reportError(error),
        onLog: options.onLog,
      });
    }
    this.#scheduleRefresh();
  }

  get status(): ClientStatus {
    return this.#status;
  }

  /** Starts background sync (createClient calls it once the client is set up). */
  start(): void {
    this.#runtime?.start();
  }

  // ---- scheduling -------------------------------------------------------------------------

  syncNow(): Promise<SyncNowResult> {
    if (this.#closing || this.#db.closed) {
      return Promise.resolve({ ok: false, status: this.#status });
    }
    if (this.#runtime) {
      return this.#runtime.syncNow().then((result) => ({ ok: result.ok, status: this.#status }));
    }
    return this.sync().then(
      () => ({ ok: true, status: this.#status }),
      () => ({ ok: false, status: this.#status }),
    );
  }

  setOnline(online: boolean): void {
    if (typeof online !== 'boolean') {
      throw new FerryError('invalid_argument', 'setOnline takes a boolean');
    }
    if (this.#closing) return;
    if (this.#runtime) this.#runtime.setOnline(online);
    else this.#setStatus({ online });
  }

  setForeground(foreground: boolean): void {
    if (typeof foreground !== 'boolean') {
      throw new FerryError('invalid_argument', 'setForeground takes a boolean');
    }
    if (this.#closing) return;
    if (this.#runtime) this.#runtime.setForeground(foreground);
    else this.#setStatus({ foreground });
  }

  metrics(): SyncMetrics {
    const metrics = { ...this.#metrics };
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
    const report = await this.#run(
      { kind, signal, onPhase: (phase) => cycle.reportPhase(phase) },
      true,
    );
    return { bundleSeq: report.bundleSeq, morePush: report.morePush, morePull: report.morePull };
  }

  /**
   * After a 401: asks the app for a fresh token once. True when it differs from the refused
   * one (the scheduler then resumes and reconnects the events stream).
   */
  async #refreshToken(): Promise<boolean> {
    const refused = this.#lastToken;
    let token: string;
    try {
      token = await this.#options.getToken({ forceRefresh: true });
    } catch (error) {
      throw new FerryError(
        'unauthorized',
        `getToken({ forceRefresh: true }) failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error },
      );
    }
    if (typeof token !== 'string' || token.length === 0) return false;
    this.#lastToken = token;
    return token !== refused;
  }

  // ---- local reads and writes -------------------------------------------------------------

  async write<T>(fn: (tx: WriteTransaction<S>) => T | Promise<T>): Promise<Awaited<T>> {
    this.#assertOpen();
    const marker = {
      sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)",
      params: [this.#now()],
    };
    const recorder = new WriteRecorder<S>(
      this.#codecs,
      () => this.#userId,
      marker,
      () => this.#db.begin(),
    );
    let result: Awaited<T>;
    try {
      result = await fn(recorder);
    } catch (error) {
      recorder.finish();
      await recorder.opened?.rollback();
      throw error;
    }
    const hooked = this.#options.hooks?.at !== undefined;
    if (recorder.opened === null && !hooked) {
      recorder.finish();
      await this.#db.batch(recorder.statements);
    } else {
      const tx = recorder.opened ?? (await this.#db.begin());
      try {
        for (const statement of recorder.statements.splice(0)) {
          await tx.run(statement.sql, statement.params);
        }
        recorder.finish();
        await this.#ctx.hook('after-outbox-write');
      } catch (error) {
        recorder.finish();
        await tx.rollback();
        throw error;
      }
      await tx.commit();
    }
    if (hooked) await this.#ctx.hook('after-local-commit');
    this.#wrote();
    return result;
  }

  async query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    this.#assertOpen();
    return this.#db.all<R>(sql, params);
  }

  async get<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  async getRow<N extends TableName<S>>(table: N, pk: PrimaryKey): Promise<RowOf<S, N> | undefined> {
    const codec = this.#codec(table);
    const rows = await this.query(codec.selectSql, [codec.encodePk(pk)]);
    return rows[0] ? (codec.decode(rows[0]) as RowOf<S, N>) : undefined;
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    this.#assertOpen();
    const [, result] = await this.#db.batch([
      { sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)", params: [this.#now()] },
      { sql, params: params ?? [] },
    ]);
    this.#wrote();
    return result!;
  }

  /** A local write committed: tell listeners and the scheduler (a debounced push follows). */
  #wrote(): void {
    this.#emit({ type: 'write' });
    this.#runtime?.notifyWrite();
    this.#scheduleRefresh();
  }

  // ---- sync -------------------------------------------------------------------------------

  sync(options: SyncOptions = {}): Promise<SyncReport> {
    return this.runCycle({
      kind: options.kind ?? 'full',
      signal: options.signal,
      maxRoundTrips: options.maxRoundTrips,
    });
  }

  hydrate(options: { readonly signal?: AbortSignal } = {}): Promise<SyncReport> {
    return this.runCycle({ kind: 'hydrate', signal: options.signal });
  }

  runCycle(options: RunCycleOptions): Promise<SyncReport> {
    return this.#run(options, false);
  }

  /** Runs a cycle after the ones before it; `scheduled`: the scheduler's (it counts its own). */
  #run(options: RunCycleOptions, scheduled: boolean): Promise<SyncReport> {
    if (this.#closing || this.#db.closed) {
      return Promise.reject(new FerryError('closed', 'the client is closed'));
    }
    const run = this.#cycles.then(() => this.#cycle(options, scheduled));
    this.#cycles = run.catch(() => undefined);
    return run;
  }

  async #cycle(options: RunCycleOptions, scheduled: boolean): Promise<SyncReport> {
    this.#assertOpen();
    if (options.signal?.aborted) throw abortedError(options.signal);
    if (!scheduled) {
      this.#metrics.cycles++;
      if (options.kind === 'full' || options.kind === 'push') this.#metrics.pushes++;
      if (options.kind === 'full' || options.kind === 'pull') this.#metrics.pulls++;
      if (options.kind === 'hydrate') this.#metrics.hydrations++;
    }
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closer.signal])
      : this.#closer.signal;
    const report: MutableReport = {
      pushed: 0,
      bundlesPushed: 0,
      pulled: 0,
      bundlesPulled: 0,
      conflicts: [],
      deadLettered: [],
      hydrated: false,
      warnings: [],
      morePush: false,
      morePull: false,
    };
    this.#setStatus({ state: options.kind === 'hydrate' ? 'hydrating' : 'syncing' });
    try {
      await this.#checkIdentity();
      if (options.kind === 'hydrate' || (await this.#needsHydration())) {
        await this.#hydrate(signal, report);
      }
      if (options.kind !== 'hydrate') {
        await this.#exchangeLoop(
          options.kind,
          signal,
          options.maxRoundTrips ?? DEFAULT_MAX_ROUND_TRIPS,
          report,
          options.onPhase,
        );
      }
      const checkpoint = ((await readState(this.#db, 'checkpoint')) as number | null) ?? 0;
      if (!scheduled) this.#metrics.cyclesSucceeded++;
      this.#setStatus({
        state: 'idle',
        lastError: null,
        lastFailure: null,
        consecutiveFailures: 0,
        lastSyncAt: this.#now(),
      });
      await this.readStatus().catch(() => undefined);
      this.#log('debug', 'cycle-report', `${options.kind} cycle done`, {
        kind: options.kind,
        pushed: report.pushed,
        pulled: report.pulled,
        conflicts: report.conflicts.length,
        deadLettered: report.deadLettered.length,
        hydrated: report.hydrated,
        checkpoint,
      });
      return { ...report, checkpoint, bundleSeq: checkpoint };
    } catch (caught) {
      const error = asFerryError(caught, signal);
      if (this.#closer.signal.aborted) {
        this.#setStatus({ state: 'closed' });
        throw error;
      }
      if (options.signal?.aborted) {
        // The caller stopped the cycle (the scheduler going offline, say): not a failure.
        if (!scheduled) this.#metrics.cyclesAborted++;
        this.#setStatus({ state: 'idle' });
        await this.readStatus().catch(() => undefined);
        throw error;
      }
      if (!scheduled) this.#metrics.cyclesFailed++;
      this.#setStatus({
        state: error.code === 'unauthorized' ? 'blocked-auth' : 'error',
        lastError: error,
        lastFailure: failureRecordOf(error, this.#now()),
        consecutiveFailures: this.#engine.consecutiveFailures + 1,
      });
      await this.readStatus().catch(() => undefined);
      this.#reportError(error);
      throw error;
    }
  }

  /** Hands an error of background work to the app's `onError`, which must not throw into us. */
  #reportError(error: FerryError): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // The app's callback must not change the outcome of the cycle.
    }
  }

  async #exchangeLoop(
    kind: Exclude<SyncKind, 'hydrate'>,
    signal: AbortSignal,
    maxRoundTrips: number,
    report: MutableReport,
    onPhase?: (phase: 'pull') => void,
  ): Promise<void> {
    let gapRenumbers = 0;
    let hydrations = 0;
    // A full or pull cycle always asks the server once; then it goes on while there is more.
    let needPull = kind !== 'push';
    let pushDone = kind !== 'full';
    for (let trip = 0; ; trip++) {
      if (signal.aborted) throw abortedError(signal);
      const bundle = kind === 'pull' ? null : await this.#prepareBundle();
      const toSend = bundle !== null && bundle.committedSeq === null ? bundle : null;
      if (toSend === null && !pushDone) {
        // Nothing left to push in this full cycle: only the pull remains.
        pushDone = true;
        onPhase?.('pull');
      }
      if (toSend === null && !needPull) {
        // A push-only cycle whose bundle waits for peers' bundles needs a pull to finish it.
        if (kind === 'push' && bundle !== null) report.morePull = true;
        return;
      }
      if (trip >= maxRoundTrips) {
        report.morePush = toSend !== null || (await this.#hasPending());
        report.morePull = needPull;
        return;
      }
      needPull = false;
      try {
        if (kind === 'push') {
          if (!(await this.#pushOnly(toSend!, signal, report))) {
            report.morePull = true;
            return;
          }
        } else {
          const outcome = await this.#syncRoundTrip(kind, toSend, signal, report);
          needPull = outcome.hasMore;
        }
      } catch (caught) {
        const error = asFerryError(caught, signal);
        const handled = toSend
          ? await this.#handleRejection(error, toSend, report, gapRenumbers)
          : isHistoryLost(error)
            ? 'history'
            : false;
        if (handled === 'gap') gapRenumbers++;
        if (handled === 'history' && hydrations++ === 0) {
          await this.#hydrate(signal, report);
          needPull = kind !== 'push';
          continue;
        }
        if (handled === false || handled === 'history') throw error;
        needPull = kind !== 'push';
      }
    }
  }

  /** The bundle in flight, or a newly frozen one; null when nothing is pushable. */
  async #prepareBundle(): Promise<FrozenBundle | null> {
    // A bundle the server committed at or below the checkpoint (its rows came with a snapshot,
    // and the settling after the answer was cut short by a crash) is done: settle it now, or it
    // would hold the outbox back for good, since no pull brings it again.
    const settled = await this.#db.all(
      "SELECT 1 FROM ferry_bundle b JOIN ferry_state s ON s.key = 'checkpoint' " +
        'WHERE b.id = 1 AND b.committed_seq IS NOT NULL AND b.committed_seq <= s.value',
    );
    if (settled.length > 0) await this.#settleLateAck();
    const result = await this.#db.transaction(async (tx) => {
      await foldCaptureLog(tx, this.#now());
      const frozen = await readFrozenBundle(tx);
      if (frozen) return { bundle: frozen, fresh: false };
      const next = ((await readState(tx, 'next_source_bundle_id')) as number | null) ?? 1;
      const freeze = await freezeNextBundle(
        tx,
        this.#ctx,
        { maxChanges: this.#maxChanges, maxBytes: this.#maxBytes },
        next,
      );
      return { bundle: freeze.bundle, fresh: freeze.bundle !== null };
    });
    if (result.fresh) {
      const bundle = result.bundle!;
      this.#setStatus({ inFlight: inFlightOf(bundle) });
      this.#log('debug', 'bundle-frozen', `bundle ${bundle.sourceBundleId} frozen`, {
        correlationId: `${this.sourceId}:${bundle.sourceBundleId}`,
        sourceBundleId: bundle.sourceBundleId,
        changes: bundle.changes.length,
      });
      await this.#ctx.hook('after-freeze-before-send');
    }
    return result.bundle;
  }

  async #syncRoundTrip(
    kind: 'full' | 'pull',
    bundle: FrozenBundle | null,
    signal: AbortSignal,
    report: MutableReport,
  ): Promise<{ hasMore: boolean }> {
    const after = await this.#checkpoint();
    const limit = this.#options.pullLimit ?? DEFAULT_LIMITS.pullLimit;
    let pull: PullResponse;
    if (kind === 'pull' || bundle === null) {
      const raw = await this.#transport.getJson(`/v1/pull?after=${after}&limit=${limit}`, {
        signal,
      });
      pull = parseAnswer(PullResponseSchema, raw, 'pull');
    } else {
      const correlationId = `${this.sourceId}:${bundle.sourceBundleId}`;
      const raw = await this.#transport.postJson(
        '/v1/sync',
        {
          protocol: PROTOCOL_VERSION,
          sourceId: this.sourceId,
          push: {
            sourceBundleId: bundle.sourceBundleId,
            changes: bundle.changes.map(wireChangeOf),
          },
          after,
          limit,
        },
        { signal, correlationId },
      );
      await this.#ctx.hook('after-server-commit-before-response');
      const answer = parseAnswer(SyncResponseSchema, raw, 'sync');
      await this.#ctx.hook('after-response-before-local-ack');
      pull = answer.pull;
      const push = answer.push;
      if (push === null) {
        throw new FerryError('bad_response', 'the sync answer has no push result for a push');
      }
      if (push.status === 'committed') {
        await this.#recordCommitted(bundle, push.bundleSeq, report);
        if (push.bundleSeq <= after) await this.#settleLateAck();
      } else {
        await this.#settleConflicts(bundle, push.conflicts, report);
      }
    }
    await this.#applyPull(pull.bundles, report);
    return { hasMore: pull.hasMore };
  }

  /** `kind: 'push'`: POST /v1/push. True when the bundle was settled and more may follow. */
  async #pushOnly(
    bundle: FrozenBundle,
    signal: AbortSignal,
    report: MutableReport,
  ): Promise<boolean> {
    const correlationId = `${this.sourceId}:${bundle.sourceBundleId}`;
    let raw: unknown;
    try {
      raw = await this.#transport.postJson(
        '/v1/push',
        {
          protocol: PROTOCOL_VERSION,
          sourceId: this.sourceId,
          sourceBundleId: bundle.sourceBundleId,
          changes: bundle.changes.map(wireChangeOf),
        },
        { signal, correlationId },
      );
    } catch (error) {
      if (isFerryError(error, 'conflict')) {
        const conflicts = (error.details as { conflicts?: Conflict[] } | undefined)?.conflicts;
        if (Array.isArray(conflicts)) {
          await this.#settleConflicts(bundle, conflicts, report);
          return true;
        }
      }
      throw error;
    }
    await this.#ctx.hook('after-server-commit-before-response');
    const answer = parseAnswer(PushResponseSchema, raw, 'push');
    await this.#ctx.hook('after-response-before-local-ack');
    await this.#recordCommitted(bundle, answer.bundleSeq, report);
    const checkpoint = await this.#checkpoint();
    const skipPeers = this.#ctx.faults?.checkpointWithoutContiguity === true;
    if (answer.bundleSeq === checkpoint + 1 || (skipPeers && answer.bundleSeq > checkpoint)) {
      // The next bundle after the checkpoint: its answer is what a pull would bring.
      await this.#applyPull(
        [
          {
            bundleSeq: answer.bundleSeq,
            sourceId: this.sourceId,
            sourceBundleId: answer.sourceBundleId,
            rows: answer.rows,
          },
        ],
        report,
      );
      return true;
    }
    if (answer.bundleSeq <= checkpoint) {
      await this.#settleLateAck();
      return true;
    }
    // Peers committed in between: the checkpoint waits for a pull of the missing bundles.
    return false;
  }

  async #recordCommitted(bundle: FrozenBundle, bundleSeq: number, report: MutableReport) {
    await this.#db.run(
      'UPDATE ferry_bundle SET committed_seq = ? WHERE id = 1 AND source_bundle_id = ?',
      [bundleSeq, bundle.sourceBundleId],
    );
    report.pushed += bundle.changes.length;
    report.bundlesPushed++;
    this.#metrics.rowsPushed += bundle.changes.length;
    this.#log(
      'info',
      'bundle-committed',
      `bundle ${bundle.sourceBundleId} committed as ${bundleSeq}`,
      {
        correlationId: `${this.sourceId}:${bundle.sourceBundleId}`,
        sourceBundleId: bundle.sourceBundleId,
        bundleSeq,
        changes: bundle.changes.length,
      },
    );
    this.#setStatus({
      lastPushAt: this.#now(),
      inFlight: { ...inFlightOf(bundle), committedSeq: bundleSeq },
    });
  }

  /** Our bundle committed at or before the checkpoint (a replay after a hydration): settle it. */
  async #settleLateAck(): Promise<void> {
    await this.#db.transaction(
      async (tx) => {
        const frozen = await readFrozenBundle(tx);
        if (!frozen) return;
        // Edits made while the bundle was in flight must be pending before it is settled.
        await foldCaptureLog(tx, this.#now());
        await setApplying(tx, true);
        for (const change of frozen.changes) await settleFrozenChange(tx, this.#ctx, change);
        await clearFrozenBundle(tx);
        await writeState(tx, 'next_source_bundle_id', frozen.sourceBundleId + 1);
        await setApplying(tx, false);
      },
      { foreignKeysOff: true },
    );
  }

  async #applyPull(bundles: readonly Bundle[], report: MutableReport): Promise<void> {
    try {
      const result = await this.#db.transaction(
        async (tx) => {
          const frozen = await readFrozenBundle(tx);
          const checkpoint = ((await readState(tx, 'checkpoint')) as number | null) ?? 0;
          return applyBundles(tx, this.#ctx, bundles, frozen, checkpoint);
        },
        { foreignKeysOff: true },
      );
      report.pulled += result.applied;
      report.bundlesPulled += result.bundles;
      report.warnings.push(...result.warnings);
      this.#metrics.rowsPulled += result.applied;
      this.#setStatus({
        lastPullAt: this.#now(),
        checkpoint: result.checkpoint,
        integrity: null,
        ...(result.acked ? { inFlight: null } : {}),
      });
      if (result.bundles > 0) {
        this.#log('debug', 'pulled', `applied ${result.bundles} bundle(s)`, {
          bundles: result.bundles,
          rows: result.applied,
          checkpoint: result.checkpoint,
          firstBundleSeq: bundles[0]?.bundleSeq ?? null,
        });
      }
      if (result.applied > 0) {
        const tables = new Set<string>();
        for (const bundle of bundles) for (const row of bundle.rows) tables.add(row.table);
        this.#emit({
          type: 'remote-change',
          tables: [...tables],
          rows: result.applied,
          checkpoint: result.checkpoint,
        });
      }
    } catch (error) {
      if (isFerryError(error, 'integrity_violation')) {
        const violations = (error.details as { violations: IntegrityViolation[] }).violations;
        this.#setStatus({ integrity: { at: this.#now(), violations } });
      }
      throw error;
    }
  }

  async #settleConflicts(
    bundle: FrozenBundle,
    conflicts: readonly Conflict[],
    report: MutableReport,
  ) {
    const reports = await this.#db.transaction(
      (tx) =>
        settleConflicts(
          tx,
          this.#ctx,
          bundle,
          conflicts,
          this.#resolverOf,
          this.#options.maxConflictRetries ?? 3,
        ),
      { foreignKeysOff: true },
    );
    report.conflicts.push(...reports);
    this.#metrics.conflicts += reports.length;
    for (const conflict of reports) {
      this.#log(
        conflict.outcome === 'manual' ? 'warn' : 'info',
        'conflict',
        `${conflict.table} ${String(conflict.pk)}: ${conflict.outcome}`,
        {
          correlationId: `${this.sourceId}:${bundle.sourceBundleId}`,
          table: conflict.table,
          pk: conflict.pk,
          outcome: conflict.outcome,
        },
      );
    }
    const adopted = new Set(
      reports.filter((c) => c.outcome === 'adopt-server').map((c) => c.table),
    );
    if (adopted.size > 0) {
      this.#emit({
        type: 'remote-change',
        tables: [...adopted],
        rows: reports.filter((c) => c.outcome === 'adopt-server').length,
        checkpoint: this.#engine.checkpoint ?? 0,
      });
    }
  }

  /**
   * Handles a refused push that is an expected outcome: dead-letters rows named by a 422 or a
   * 403, renumbers after a `bundle_gap`, shrinks after a 413. Returns false for anything else.
   */
  async #handleRejection(
    error: FerryError,
    bundle: FrozenBundle,
    report: MutableReport,
    gapRenumbers: number,
  ): Promise<boolean | 'gap' | 'history'> {
    const status = error.status ?? null;
    switch (error.code) {
      case 'validation_failed': {
        const details = ValidationDetailsSchema.safeParse(error.details);
        if (!details.success || details.data.errors.length === 0) return false;
        await this.#deadLetter(bundle, details.data.errors, status, report);
        return true;
      }
      case 'forbidden': {
        const details = ForbiddenDetailsSchema.safeParse(error.details);
        if (!details.success || details.data.changes.length === 0) return false;
        await this.#deadLetter(
          bundle,
          details.data.changes.map((c) => ({ ...c, code: 'forbidden', message: error.message })),
          status,
          report,
        );
        return true;
      }
      case 'bundle_gap': {
        const details = BundleErrorDetailsSchema.safeParse(error.details);
        if (!details.success || gapRenumbers >= 2) return false;
        // The server lost bundles we believed committed (restored from a backup): our bundle
        // was never committed there, so it goes out under the next id the server expects.
        await this.#db.run('UPDATE ferry_bundle SET source_bundle_id = ? WHERE id = 1', [
          details.data.lastCommitted + 1,
        ]);
        return 'gap';
      }
      case 'payload_too_large': {
        if (bundle.changes.length <= 1) {
          await this.#deadLetter(
            bundle,
            bundle.changes.map((c, index) => ({
              index,
              table: c.tbl,
              pk: c.pk,
              code: 'payload_too_large',
              message: error.message,
            })),
            status,
            report,
          );
          return true;
        }
        this.#maxChanges = Math.max(1, Math.floor(bundle.changes.length / 2));
        await this.#db.transaction(async (tx) => {
          for (const change of bundle.changes.slice(this.#maxChanges))
            await unfreezeChange(tx, change);
        });
        return true;
      }
      case 'history_pruned':
      case 'cursor_unknown':
        return 'history';
      default:
        return false;
    }
  }

  async #deadLetter(
    bundle: FrozenBundle,
    rejected: readonly RejectedChange[],
    status: number | null,
    report: MutableReport,
  ) {
    const reports = await this.#db.transaction((tx) =>
      deadLetterChanges(tx, this.#ctx, bundle, rejected, status),
    );
    report.deadLettered.push(...reports);
    this.#metrics.deadLetters += reports.length;
    for (const letter of reports) {
      this.#log(
        'warn',
        'dead-lettered',
        `${letter.table} ${String(letter.pk)}: ${letter.message}`,
        {
          correlationId: `${this.sourceId}:${bundle.sourceBundleId}`,
          table: letter.table,
          pk: letter.pk,
          code: letter.code,
          status,
        },
      );
    }
  }

  async #hydrate(signal: AbortSignal, report: MutableReport): Promise<void> {
    const previous = this.#engine.state;
    this.#setStatus({ state: 'hydrating' });
    const staged = await downloadSnapshot(this.#db, this.#transport, this.#ctx, {
      signal,
      timeoutMs: this.#timeoutMs * 10,
    });
    try {
      const result = await this.#db.transaction(
        async (tx) => applySnapshot(tx, this.#ctx, staged, await readFrozenBundle(tx)),
        { foreignKeysOff: true },
      );
      report.hydrated = true;
      report.pulled += result.applied;
      report.warnings.push(...result.warnings);
      this.#metrics.rowsPulled += result.applied;
      this.#setStatus({
        state: previous,
        checkpoint: staged.snapshotBundleSeq,
        lastPullAt: this.#now(),
        integrity: null,
        ...(result.acked ? { inFlight: null } : {}),
      });
      this.#log('info', 'hydrated', `hydrated ${result.applied} rows`, {
        rows: result.applied,
        checkpoint: staged.snapshotBundleSeq,
      });
      this.#emit({
        type: 'remote-change',
        tables: this.schema.tables.map((t) => t.name),
        rows: result.applied,
        checkpoint: staged.snapshotBundleSeq,
      });
    } catch (error) {
      await this.#db.run('DELETE FROM temp.ferry_snapshot').catch(() => undefined);
      if (isFerryError(error, 'integrity_violation')) {
        const violations = (error.details as { violations: IntegrityViolation[] }).violations;
        this.#setStatus({ integrity: { at: this.#now(), violations } });
      }
      throw error;
    }
  }

  async #needsHydration(): Promise<boolean> {
    const [checkpoint, needs] = await Promise.all([
      readState(this.#db, 'checkpoint'),
      readState(this.#db, 'needs_hydration'),
    ]);
    if (needs === 1) return true;
    if (checkpoint !== null) return false;
    if (this.#options.initialSync === 'pull') {
      await writeState(this.#db, 'checkpoint', 0);
      return false;
    }
    return true;
  }

  async #checkpoint(): Promise<number> {
    return ((await readState(this.#db, 'checkpoint')) as number | null) ?? 0;
  }

  async #hasPending(): Promise<boolean> {
    const rows = await this.#db.all<{ n: number }>(
      'SELECT EXISTS (SELECT 1 FROM ferry_outbox) OR EXISTS (SELECT 1 FROM ferry_log WHERE tbl IS NOT NULL) AS n',
    );
    return rows[0]?.n === 1;
  }

  /** The token's user must be this database's user; the first one seen is remembered. */
  async #checkIdentity(): Promise<void> {
    const token = await fetchToken(this.#getToken);
    const userId = subjectOf(token);
    if (userId === null) return;
    if (this.#userId === null) {
      await writeState(this.#db, 'user_id', userId);
      this.#userId = userId;
      this.#setStatus({ userId });
      return;
    }
    if (this.#userId !== userId) {
      throw new FerryError(
        'invalid_argument',
        `the token is for user "${userId}" but this database holds the data of "${this.#userId}"`,
        { details: { tokenUserId: userId, databaseUserId: this.#userId } },
      );
    }
  }

  // ---- status -----------------------------------------------------------------------------

  async readStatus(): Promise<ClientStatus> {
    this.#assertOpen();
    const counts = await this.#db.transaction(async (tx) => {
      await foldCaptureLog(tx, this.#now());
      const rows = await tx.all<{
        pending: number;
        oldest: number | null;
        conflicts: number;
        dead: number;
      }>(
        'SELECT (SELECT count(*) FROM ferry_outbox) AS pending, ' +
          '(SELECT min(m) FROM (SELECT min(first_at) AS m FROM ferry_outbox UNION ALL SELECT min(first_at) FROM ferry_inflight)) AS oldest, ' +
          '(SELECT count(*) FROM ferry_conflicts) AS conflicts, (SELECT count(*) FROM ferry_dead_letters) AS dead',
      );
      const frozen = await readFrozenBundle(tx);
      const checkpoint = (await readState(tx, 'checkpoint')) as number | null;
      return { ...rows[0]!, frozen, checkpoint };
    });
    const now = this.#now();
    this.#setStatus({
      pending: counts.pending,
      oldestPendingAt: counts.oldest,
      oldestPendingAgeMs: counts.oldest === null ? null : Math.max(0, now - counts.oldest),
      inFlight: counts.frozen ? inFlightOf(counts.frozen) : null,
      checkpoint: counts.checkpoint,
      conflicts: counts.conflicts,
      deadLetters: counts.dead,
    });
    return this.#status;
  }

  subscribe(listener: (event: ClientEvent) => void): () => void {
    if (typeof listener !== 'function') {
      throw new FerryError('invalid_argument', 'subscribe takes a listener function');
    }
    // Each subscription is its own, even for the same function twice.
    const own = (event: ClientEvent) => listener(event);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** Patches the engine's status and publishes the merged one. */
  #setStatus(patch: Partial<EngineStatus>): void {
    this.#engine = { ...this.#engine, ...patch };
    this.#publishStatus();
  }

  #publishStatus(): void {
    this.#status = mergeClientStatus(this.#engine, this.#sync, this.#realtime);
    this.#emit({ type: 'status', status: this.#status });
  }

  #log(level: LogLevel, event: string, message: string, fields: LogEntry['fields']): void {
    const onLog = this.#options.onLog;
    if (onLog === undefined) return;
    try {
      onLog({ level, event, message, fields });
    } catch (error) {
      this.#reportError(
        new FerryError('internal', `onLog threw: ${String(error)}`, { cause: error }),
      );
    }
  }

  #emit(event: ClientEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A listener's failure is its own; it must not break sync, but it is not hidden.
        this.#reportError(
          new FerryError('internal', `a client listener threw: ${String(error)}`, {
            cause: error,
          }),
        );
      }
    }
  }

  /** Refreshes the counts once the current burst of work is over. */
  #scheduleRefresh(): void {
    if (this.#refreshScheduled) return;
    this.#refreshScheduled = true;
    const timer = setTimeout(() => {
      this.#refreshScheduled = false;
      if (!this.#db.closed && !this.#closing) this.readStatus().catch(() => undefined);
    }, 0);
    (timer as { unref?: () => void }).unref?.();
  }

  // ---- conflicts and dead letters ---------------------------------------------------------

  async conflicts(): Promise<ManualConflict[]> {
    this.#assertOpen();
    const rows = await this.#db.all<{
      id: number;
      tbl: string;
      pk: PrimaryKey;
      local: string | null;
      base: string | null;
      server: string | null;
      server_version: number | null;
      server_deleted: number;
      reason: string;
      at: number;
    }>(
      'SELECT id, tbl, pk, local, base, server, server_version, server_deleted, reason, at FROM ferry_conflicts ORDER BY id',
    );
    return rows.map((r) => ({
      id: r.id,
      table: r.tbl,
      pk: r.pk,
      local: parseRow(r.local),
      base: parseRow(r.base),
      server: parseRow(r.server),
      serverVersion: r.server_version,
      serverDeleted: r.server_deleted === 1,
      reason: r.reason,
      at: r.at,
    }));
  }

  async resolveConflict(id: number, choice: ConflictChoice): Promise<void> {
    this.#assertOpen();
    if (
      choice !== 'server' &&
      choice !== 'client' &&
      (typeof choice !== 'object' || choice === null || !('row' in choice))
    ) {
      throw new FerryError('invalid_argument', "choice must be 'server', 'client' or { row }");
    }
    await this.#db.transaction(
      async (tx) => {
        await foldCaptureLog(tx, this.#now());
        const rows = await tx.all<{ tbl: string; pk: SqlValue; first_at: number }>(
          'SELECT tbl, pk, first_at FROM ferry_conflicts WHERE id = ?',
          [id],
        );
        const conflict = rows[0];
        if (!conflict) throw new FerryError('invalid_argument', `no open conflict ${id}`);
        const codec = this.#codec(conflict.tbl);
        await tx.run('DELETE FROM ferry_conflicts WHERE id = ?', [id]);
        await setApplying(tx, true);
        const layer0 = await readRowState(tx, conflict.tbl, conflict.pk);
        if (choice === 'server') {
          await deletePending(tx, conflict.tbl, conflict.pk);
          await restoreServerRow(tx, codec, conflict.pk, layer0);
        } else {
          if (typeof choice === 'object') {
            if (choice.row === null) await tx.run(codec.deleteSql, [conflict.pk]);
            else {
              const row = { ...choice.row, [codec.table.primaryKey]: conflict.pk };
              await tx.run(codec.upsertSql, codec.encode(fullRowOf(codec, row)));
            }
          }
          const exists = (await tx.all(codec.selectSql, [conflict.pk])).length > 0;
          const pending = await readPending(tx, conflict.tbl, conflict.pk);
          const serverKnows = layer0 !== undefined;
          const op = exists
            ? serverKnows
              ? 'U'
              : 'I'
            : serverKnows && !layer0.deleted
              ? 'D'
              : null;
          if (op === null) await deletePending(tx, conflict.tbl, conflict.pk);
          else {
            await writePending(tx, {
              tbl: conflict.tbl,
              pk: conflict.pk,
              op,
              firstGroup: pending?.firstGroup ?? 0,
              lastGroup: pending?.lastGroup ?? 0,
              firstAt: pending?.firstAt ?? conflict.first_at,
              // Against the server's current version: the local row wins.
              pinned: false,
              pinVersion: null,
              pinBase: null,
            });
          }
        }
        await setApplying(tx, false);
      },
      { foreignKeysOff: true },
    );
    await this.readStatus();
    this.#runtime?.notifyWrite();
  }

  async deadLetters(): Promise<DeadLetter[]> {
    this.#assertOpen();
    const rows = await this.#db.all<{
      id: number;
      tbl: string;
      pk: PrimaryKey;
      op: 'upsert' | 'delete';
      row: string | null;
      base_version: number | null;
      code: string;
      message: string;
      status: number | null;
      at: number;
    }>(
      'SELECT id, tbl, pk, op, row, base_version, code, message, status, at FROM ferry_dead_letters ORDER BY id',
    );
    return rows.map((r) => ({
      id: r.id,
      table: r.tbl,
      pk: r.pk,
      op: r.op,
      row: parseRow(r.row),
      baseVersion: r.base_version,
      code: r.code,
      message: r.message,
      status: r.status,
      at: r.at,
    }));
  }

  async retryDeadLetter(id: number): Promise<void> {
    this.#assertOpen();
    await this.#db.transaction(async (tx) => {
      await foldCaptureLog(tx, this.#now());
      const letter = await this.#readDeadLetter(tx, id);
      await tx.run('DELETE FROM ferry_dead_letters WHERE id = ?', [id]);
      await requeueChange(tx, {
        tbl: letter.tbl,
        pk: letter.pk,
        letter: letter.letter,
        baseVersion: letter.base_version,
        base: parseRow(letter.base),
        firstGroup: 0,
        lastGroup: 0,
        firstAt: letter.first_at,
      });
    });
    await this.readStatus();
    this.#runtime?.notifyWrite();
  }

  async discardDeadLetter(id: number): Promise<void> {
    this.#assertOpen();
    await this.#db.transaction(
      async (tx) => {
        await foldCaptureLog(tx, this.#now());
        const letter = await this.#readDeadLetter(tx, id);
        await tx.run('DELETE FROM ferry_dead_letters WHERE id = ?', [id]);
        await deletePending(tx, letter.tbl, letter.pk);
        await setApplying(tx, true);
        const codec = this.#codec(letter.tbl);
        await restoreServerRow(tx, codec, letter.pk, await readRowState(tx, letter.tbl, letter.pk));
        await setApplying(tx, false);
      },
      { foreignKeysOff: true },
    );
    await this.readStatus();
  }

  async #readDeadLetter(tx: TransactionExecutor, id: number) {
    const rows = await tx.all<{
      tbl: string;
      pk: PrimaryKey;
      letter: 'I' | 'U' | 'D';
      base_version: number | null;
      base: string | null;
      first_at: number;
    }>(
      'SELECT tbl, pk, letter, base_version, base, first_at FROM ferry_dead_letters WHERE id = ?',
      [id],
    );
    const letter = rows[0];
    if (!letter) throw new FerryError('invalid_argument', `no dead letter ${id}`);
    return letter;
  }

  // ---- lifetime ---------------------------------------------------------------------------

  close(): Promise<void> {
    this.#closing ??= (async () => {
      // The scheduler aborts its cycle itself, so that it sees the abort as its own.
      const runtime = this.#runtime?.close();
      this.#closer.abort(new FerryError('closed', 'the client is closing'));
      await runtime?.catch(() => undefined);
      await this.#cycles.catch(() => undefined);
      await this.#db.close();
      this.#setStatus({ state: 'closed' });
      this.#listeners.clear();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #assertOpen(): void {
    if (this.#closing || this.#db.closed) throw new FerryError('closed', 'the client is closed');
  }

  #codec(table: string): TableCodec {
    const codec = this.#codecs.get(table);
    if (!codec) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    return codec;
  }
}

function inFlightOf(bundle: FrozenBundle) {
  return {
    sourceBundleId: bundle.sourceBundleId,
    changes: bundle.changes.length,
    frozenAt: bundle.frozenAt,
    attempts: bundle.attempts,
    committedSeq: bundle.committedSeq,
  };
}

function fullRowOf(codec: TableCodec, row: Row): Row {
  const out: Row = {};
  for (const column of codec.table.columns) {
    const value = row[column.name];
    out[column.name] = value === undefined ? null : value;
  }
  return out;
}

function isHistoryLost(error: FerryError): boolean {
  return error.code === 'history_pruned' || error.code === 'cursor_unknown';
}

function abortedError(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  if (reason instanceof FerryError) return reason;
  return new FerryError('aborted', 'the sync cycle was aborted', { cause: reason });
}

function asFerryError(error: unknown, signal: AbortSignal): FerryError {
  if (error instanceof FerryError) return error;
  if (signal.aborted) return abortedError(signal);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new FerryError('store_unavailable', `the local database failed: ${message}`, {
      cause: error,
    });
  }
  return new FerryError('internal', message, { cause: error });
}

/** The `sub` claim of a JWT, read without verifying it (the server verifies). */
export function subjectOf(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub.length > 0 ? claims.sub : null;
  } catch {
    return null;
  }
}

export type { ClientState };

import type {
  BuiltinConflictPolicy,
  ConflictResolver,
  ConflictSide,
  FerryError,
  PrimaryKey,
  Row,
  Schema,
  SchemaHistory,
} from '@ferry/protocol';
import type { DerivedState } from './apply/derived-state.js';
import type { IntegrityViolation } from './apply/integrity-gate.js';
import type { SqliteDriver } from './driver/sqlite-driver.js';
import type { BackoffOptions } from './scheduler/backoff.js';
import type { Clock } from './scheduler/clock.js';
import type { LogEntry } from './scheduler/log-entry.js';
import type { SyncScheduleOverrides } from './scheduler/sync-schedule.js';
import type {
  ActiveCycle,
  AuthState,
  CircuitState,
  FailureRecord,
  SyncStateName,
} from './scheduler/sync-state-machine.js';

/**
 * Named moments where the client calls `hooks.at(point)`. Crash tests kill the process there;
 * a deterministic simulator can interleave other work. Costs nothing when no hook is set.
 *
 * | point | when |
 * |---|---|
 * | `after-outbox-write` | inside a local write transaction, after its changes were captured, before `COMMIT` |
 * | `after-local-commit` | a local write committed |
 * | `after-freeze-before-send` | the next bundle is frozen and stored, before the request |
 * | `after-server-commit-before-response` | a push answer arrived (the server committed), nothing read or applied yet |
 * | `after-response-before-local-ack` | the answer is read, before its result is applied locally |
 * | `mid-pull-apply` | inside the transaction applying a page, after half its rows |
 * | `after-apply-before-checkpoint` | inside that transaction, all rows applied, checkpoint not yet written |
 * | `during-hydration-download` | a snapshot is being downloaded (after its first chunk was staged) |
 * | `during-hydration` | inside the transaction that applies a snapshot, after half its rows |
 * | `during-local-migration` | inside the transaction that migrates the file to a newer schema version (on open), before each of its statements |
 * | `during-key-remap` | inside the transaction that records a push answer, after rows inserted under temporary keys took the server's keys, before `COMMIT` |
 */
export const HOOK_POINTS = [
  'after-outbox-write',
  'after-local-commit',
  'after-freeze-before-send',
  'after-server-commit-before-response',
  'after-response-before-local-ack',
  'mid-pull-apply',
  'after-apply-before-checkpoint',
  'during-hydration-download',
  'during-hydration',
  'during-local-migration',
  'during-key-remap',
] as const;
/** One of {@link HOOK_POINTS}. */
export type HookPoint = (typeof HOOK_POINTS)[number];

/** Fault-injection and simulation hooks. */
export interface ClientHooks {
  /**
   * Called at each {@link HookPoint}. May return a promise, which is awaited where the client is
   * in async code; inside a synchronous step (the middle of a transaction) it is not awaited.
   */
  at?(point: HookPoint): void | Promise<void>;
}

/** Options of `getToken`. */
export interface GetTokenOptions {
  /** The last token was refused (401): return a fresh one. */
  readonly forceRefresh?: boolean;
}

/** A policy name or a custom resolver for a table. */
export type ResolverSetting = BuiltinConflictPolicy | ConflictResolver;

/** Options of `createClient`. */
export interface ClientOptions<S extends Schema = Schema> {
  readonly schema: S;
  /**
   * The versions of the app's schema, newest (`schema`) last ({@link schemaHistory}): a file
   * written by an older version of the app is migrated to `schema` when it opens, its pending
   * changes, conflicts and dead letters kept. Without it, a file of another schema gets the new
   * tables and columns added.
   */
  readonly history?: SchemaHistory | undefined;
  /**
   * Selective sync: the tables this client syncs (default: all of `schema`). Only these tables
   * exist in the file, and the server sends only their rows. A table's parents (the tables it
   * references) must be in the list. Adding a table later fetches its rows (the next sync
   * hydrates); pending changes stay.
   */
  readonly tables?: readonly string[] | undefined;
  readonly driver: SqliteDriver;
  /** The server's base URL, e.g. `https://sync.example.com`. */
  readonly url: string;
  /** The bearer token (a JWT whose `sub` is the user id); called before every request. */
  readonly getToken: (options?: GetTokenOptions) => string | Promise<string>;
  /**
   * This install's writer id (a UUID). Default: generated once and kept in the file. Ferry
   * rotates it (and keeps every pending change) when the server shows that another install uses
   * it (a copied file) or that the server has bundles of it the file does not (a file restored
   * from a backup); the option then still names the file's first id.
   */
  readonly sourceId?: string;
  /** Makes a fresh source id for a rotation. Default `crypto.randomUUID` (a test passes a seeded one). */
  readonly createSourceId?: () => string;
  /**
   * Called with every error of a sync cycle (besides being thrown and kept in the status), and
   * of other background work: a failed token refresh, a connectivity probe or a status listener
   * that threw. Errors of the events stream go to `onLog` (`events-failed`) and show as
   * `status.realtime`: the periodic sync covers for it.
   */
  readonly onError?: (error: FerryError) => void;
  /**
   * Conflict resolvers: by table name (overriding the table's `conflictPolicy`), and by the name
   * of every custom policy the schema uses.
   */
  readonly resolvers?: Readonly<Record<string, ResolverSetting>>;
  /**
   * Derived state rebuilt inside the transaction that applies server data (a page or a
   * snapshot), after its rows, in dependency order, before the page commits and any live query
   * hears of it; a rebuild that throws rolls the page back (`derived_rebuild_failed`). See
   * `DerivedState`.
   */
  readonly derived?: readonly DerivedState[];
  /** Default `globalThis.fetch`. */
  readonly fetch?: typeof fetch;
  /** The clock, ms since the epoch. Default `clock.now`, else `Date.now`. */
  readonly now?: () => number;
  /**
   * Time and timers of the scheduler, the events stream and request timeouts. Default: the
   * system clock. Tests and the simulator pass `createManualClock()` and move time by hand.
   * With the default, Ferry's long steps (a freeze, the apply of a page, a hydration) give the
   * event loop a turn every 20 ms of wall time; with a clock of your own they do not (it owns
   * time and waiting).
   */
  readonly clock?: Clock;
  /** Numbers in [0, 1) for backoff jitter. Default `Math.random`. */
  readonly random?: () => number;
  /**
   * Sync by itself (default true): a scheduler runs a cycle at start, after local writes
   * (debounced), on server pokes, periodically, on reconnect, and retries failures with backoff
   * and a circuit breaker. An object sets its timings (see {@link SyncScheduleOverrides};
   * `{ debounceMs: 0, minIntervalMs: 0 }` for the lowest latency). `false`: nothing runs until
   * the app calls `sync()` (tests of the engine, one-shot scripts).
   */
  readonly autoSync?: boolean | SyncScheduleOverrides;
  /**
   * Listen to the server's `GET /v1/events` pokes while online and in the foreground, to pull
   * as soon as another device pushes. Default true (only with `autoSync`).
   */
  readonly realtime?: boolean | RealtimeOptions;
  /**
   * Connectivity: a boolean is the initial state (default true; then `setOnline()` tells the
   * client). A function is a probe (Node has no `navigator.onLine`): it is asked at start,
   * after every network failure, and every `onlineProbeIntervalMs` while offline; a probe that
   * throws counts as offline. Offline pauses sync; back online, sync runs at once.
   */
  readonly online?: boolean | (() => boolean | Promise<boolean>);
  /** How often an offline client asks the `online` probe again (default 5,000 ms). */
  readonly onlineProbeIntervalMs?: number;
  /** Initially in the foreground (default true); `setForeground()` changes it. */
  readonly foreground?: boolean;
  /**
   * Structured log events of the engine, the scheduler and the events stream: `bundle-frozen`,
   * `bundle-committed`, `pulled`, `hydrated`, `cycle-failed`, `circuit-opened`, … Fields carry
   * `correlationId` (`sourceId:sourceBundleId`, the bundle's id; the server's request id on a
   * failure) where one is known.
   */
  readonly onLog?: (entry: LogEntry) => void;
  readonly hooks?: ClientHooks;
  /** Per-request timeout (default 30,000 ms; a snapshot download gets ten times that). */
  readonly requestTimeoutMs?: number;
  /** Bundle limits: default the protocol's (10,000 changes, 10 MiB). */
  readonly limits?: { readonly maxChanges?: number; readonly maxBodyBytes?: number };
  /** Rows per pull page asked for (default 5,000). */
  readonly pullLimit?: number;
  /** Automatic rebase-and-retry rounds per row before a conflict becomes manual (default 3). */
  readonly maxConflictRetries?: number;
  /**
   * Entries the journal of settled conflicts keeps (default 1,000): every value a conflict
   * policy replaced is journaled (`settledConflicts()`), and older entries beyond this many are
   * pruned as new ones come in. At least 1.
   */
  readonly maxSettledConflicts?: number;
  /**
   * How a client that never synced starts: `hydrate` from `GET /v1/snapshot` (default), or `pull`
   * every bundle from 0.
   */
  readonly initialSync?: 'hydrate' | 'pull';
  /**
   * Test only: deliberately broken engine behaviour, for the simulator's negative controls (a
   * simulator that cannot catch these proves nothing). Never set it in an app.
   */
  readonly __unsafeFaults?: UnsafeClientFaults | undefined;
}

/**
 * Deliberate engine bugs for negative controls (see `__unsafeFaults`). Each costs one property
 * check when unset.
 */
export interface UnsafeClientFaults {
  /**
   * Move the checkpoint to a pushed bundle's `bundleSeq` even when peers' bundles before it
   * were never pulled (they are then skipped for good).
   */
  readonly checkpointWithoutContiguity?: boolean;
  /** Let a pulled change overwrite a row that has a pending local edit. */
  readonly overwritePendingLocalEdit?: boolean;
  /**
   * Forget the rows of our bundle as the server committed them: an edit made on them before
   * the acknowledgement keeps the base the change was made on, and meets our own commit.
   */
  readonly forgetCommittedRows?: boolean;
}

/** Options of the events stream (`realtime` of {@link ClientOptions}). */
export interface RealtimeOptions {
  /** The events URL. Default `<url>/v1/events`. */
  readonly url?: string;
  /** The token in the `Authorization` header (default) or the `access_token` query parameter. */
  readonly tokenIn?: 'header' | 'query';
  /** A connection silent this long is dropped and reopened (default 45,000 ms). */
  readonly heartbeatTimeoutMs?: number;
  /** Reconnect delays (default 1 s base, 1 min cap, full jitter). */
  readonly backoff?: { readonly [K in keyof BackoffOptions]?: BackoffOptions[K] | undefined };
}

/** What a sync cycle should do (see the scheduler's cycle kinds). */
export type SyncKind = 'full' | 'push' | 'pull' | 'hydrate';

/** Options of `client.sync`. */
export interface SyncOptions {
  /** Default `full`: push and pull, in one round trip per step (`POST /v1/sync`). */
  readonly kind?: SyncKind;
  readonly signal?: AbortSignal | undefined;
  /** Stop after this many round trips (default 1,000); the report says what is left. */
  readonly maxRoundTrips?: number;
}

/** How one conflicting row was settled in a cycle. */
export interface ConflictReport {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly outcome: 'adopt-server' | 'rebase' | 'manual';
  readonly reason?: string;
}

/** A row set aside in a cycle. */
export interface DeadLetterReport {
  readonly id: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly code: string;
  readonly message: string;
}

/** What one `client.sync()` did. */
export interface SyncReport {
  /** Changes the server committed from this client. */
  readonly pushed: number;
  /** Bundles of this client the server committed. */
  readonly bundlesPushed: number;
  /** Row effects applied from pulls (rows already known are not counted). */
  readonly pulled: number;
  /** Bundles applied from pulls, this client's own included. */
  readonly bundlesPulled: number;
  readonly conflicts: readonly ConflictReport[];
  /** The values conflict policies replaced in this cycle, as journaled (oldest first). */
  readonly settledConflicts: readonly SettledConflict[];
  readonly deadLettered: readonly DeadLetterReport[];
  /** A snapshot replaced the server state during the cycle. */
  readonly hydrated: boolean;
  /** The pull checkpoint after the cycle. */
  readonly checkpoint: number;
  /** Optional references that dangle after a page (never block). */
  readonly warnings: readonly IntegrityViolation[];
  /** Pending changes remain that this cycle did not send (round-trip limit). */
  readonly morePush: boolean;
  /** The pull stopped before the server's horizon (round-trip limit). */
  readonly morePull: boolean;
  /** Highest bundleSeq applied locally (the checkpoint). */
  readonly bundleSeq: number;
}

/**
 * What the client is doing. With `autoSync`, the scheduler's state ({@link SyncStateName}:
 * `idle`, `pushing`, `pulling`, `backoff`, `blocked-auth`, `blocked-conflict`, `paused` (circuit
 * open), `offline`, `closed`), shown as `hydrating` while a snapshot is loaded and `syncing`
 * while an explicit `sync()` runs. Without it, the engine's own: `idle`, `syncing`,
 * `hydrating`, `blocked-auth`, `error` (the last cycle failed), `closed`.
 */
export type ClientState = SyncStateName | 'syncing' | 'hydrating' | 'error';

/** The bundle in flight. */
export interface InFlightStatus {
  readonly sourceBundleId: number;
  readonly changes: number;
  readonly frozenAt: number;
  readonly attempts: number;
  /** The server's bundleSeq once it answered committed (the bundle then waits for the pull). */
  readonly committedSeq: number | null;
}

/**
 * What an app shows about sync ("Sync paused — check connection"). Counts come from the last
 * refresh: after every cycle, shortly after writes, and `readStatus()`. A failure that persists
 * is always visible: `state` (backoff, paused, blocked-auth, offline), `lastError` and
 * `lastFailure` stay until a cycle succeeds.
 */
export interface ClientStatus {
  readonly state: ClientState;
  /** Rows with pending local changes (not yet in a bundle). */
  readonly pending: number;
  /** When the oldest pending or in-flight change was made (ms), or null. */
  readonly oldestPendingAt: number | null;
  /** Age of that change at the time of the refresh (ms), or null. */
  readonly oldestPendingAgeMs: number | null;
  readonly inFlight: InFlightStatus | null;
  readonly lastPushAt: number | null;
  readonly lastPullAt: number | null;
  readonly lastSyncAt: number | null;
  /**
   * Since when sync has worked: the time of the successful cycle that began the current run of
   * successes. Null before the first success, after any failed cycle and while offline, until
   * the next success; a retry that is merely running does not set it. The one ground for
   * telling a person "in sync". Without autoSync: the last `sync()` when it succeeded.
   */
  readonly inSyncSince: number | null;
  /** The pull checkpoint (`after`), or null before the first sync. */
  readonly checkpoint: number | null;
  /** Manual conflicts waiting for the app. */
  readonly conflicts: number;
  /** Entries in the journal of settled conflicts: values conflict policies replaced. */
  readonly settledConflicts: number;
  readonly deadLetters: number;
  /** The error of the last failed cycle, cleared by the next successful one. */
  readonly lastError: FerryError | null;
  /** The last page refused by the integrity gate, with the references that dangled. */
  readonly integrity: {
    readonly at: number;
    readonly violations: readonly IntegrityViolation[];
  } | null;
  readonly sourceId: string;
  readonly userId: string | null;
  /**
   * Where the local database keeps its pages, as its driver says: `file` or `memory` on Node,
   * `opfs` or `indexeddb` in a browser (`@ferry/client/wa-sqlite`), `unknown` when it does not.
   */
  readonly storage: string;
  /** Whether the scheduler runs sync by itself. */
  readonly autoSync: boolean;
  readonly online: boolean;
  readonly foreground: boolean;
  /** The events stream: `off` without autoSync or realtime; `disconnected` means slower, not broken. */
  readonly realtime: 'connected' | 'disconnected' | 'off';
  /** The circuit breaker: `open` after consecutive failed cycles (state `paused`). */
  readonly circuit: CircuitState;
  /** Failed cycles in a row (those that count toward the circuit). */
  readonly consecutiveFailures: number;
  /** backoff: when the retry starts; paused: when the circuit's cool-down ends (clock ms). */
  readonly nextRetryAt: number | null;
  /** `refreshing` after a 401; `failed` when the refresh gave no new token (sync waits). */
  readonly auth: AuthState;
  /**
   * `lastError` classified: `class` (transient, server-error, rate-limited, auth, rejected,
   * conflict, bundle, history, fatal), `code`, `status`, `retryAfterMs`, the request's
   * `correlationId` and when it happened (`at`).
   */
  readonly lastFailure: FailureRecord | null;
  /** The scheduler's cycle in flight (`kind`, `startedAt`). */
  readonly cycle: ActiveCycle | null;
  /** First local write the scheduler has not sent yet (it waits for the debounce). */
  readonly writesPendingSince: number | null;
}

/** What `client.syncNow()` resolves with (it never rejects). */
export interface SyncNowResult {
  /** The cycle run for this request succeeded. */
  readonly ok: boolean;
  /** The status when the request settled (see `lastError` when not ok). */
  readonly status: ClientStatus;
}

/** A change the server rejected for good, kept with its error. */
export interface DeadLetter {
  readonly id: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly op: 'upsert' | 'delete';
  /** The row as it was sent (null for a delete). */
  readonly row: Row | null;
  readonly baseVersion: number | null;
  readonly code: string;
  readonly message: string;
  readonly status: number | null;
  readonly at: number;
}

/** A conflict waiting for the app. */
export interface ManualConflict {
  readonly id: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  /** The local change: its row, or null for a delete. */
  readonly local: Row | null;
  /** The row the local change was made on (null: it did not exist). */
  readonly base: Row | null;
  /** The server's row when the conflict was recorded (null: deleted or never existed). */
  readonly server: Row | null;
  readonly serverVersion: number | null;
  readonly serverDeleted: boolean;
  readonly reason: string;
  readonly at: number;
}

/**
 * A value a conflict policy replaced: one entry of the journal of settled conflicts
 * (`client.settledConflicts()`). Every automatic settlement that drops a value journals it, of
 * either side: this device's change that lost (to `server-wins`, or to the server's value of a
 * field both sides changed in a `field-merge`), or the server's row that lost (to
 * `client-wins`, a `client` merge rule, or a local delete). A custom resolver's outcome is
 * journaled the same way.
 */
export interface SettledConflict {
  /** Rises with every entry, also across a clear: a cursor for `clearSettledConflicts`. */
  readonly id: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  /**
   * The rule that settled it: the table's policy (`field-merge`, `server-wins`, `client-wins`),
   * a custom policy's name, or `custom` for a function given in `resolvers` by table name.
   */
  readonly rule: string;
  /** Whose values lost: this device's change (`local`) or the server's row (`server`). */
  readonly loser: ConflictSide;
  /**
   * The columns whose losing value was dropped; every column a client writes (but the primary
   * key and owner) when a whole row lost to a delete, or a delete lost to a row.
   */
  readonly columns: readonly string[];
  /** The values that lost, by column; null when the losing side had deleted the row. */
  readonly lost: Row | null;
  /** The values that stand instead, by column; null when the row ends up deleted. */
  readonly won: Row | null;
  /** The server's version of the row the conflict was settled against. */
  readonly serverVersion: number | null;
  /** The bundle whose push conflicted (logs carry it as `correlationId` `sourceId:id`). */
  readonly sourceBundleId: number;
  /** When it was settled (the client's clock, ms). */
  readonly at: number;
}

/** Options of `client.settledConflicts`. */
export interface SettledConflictsQuery {
  /** At most this many entries (default: every entry kept). */
  readonly limit?: number;
  /** Only entries settled at or after this time (the client's clock, ms). */
  readonly since?: number;
}

/**
 * How the app settles a manual conflict: `server` drops the local change, `client` pushes the
 * local row as it is now against the server's current version, `{ row }` writes that row (or
 * deletes, for null) and pushes it.
 */
export type ConflictChoice = 'server' | 'client' | { readonly row: Row | null };

import { DEFAULT_LIMITS, FerryError } from '@ferry/protocol';
import { countingFetch } from './counting-fetch.js';
import type { SerialDatabase } from './driver/serial-database.js';
import type { EngineContext } from './engine-context.js';
import { DEFAULT_MAX_SETTLED_CONFLICTS } from './local/settled-journal.js';
import { createTableCodecs } from './local/table-codec.js';
import type { Clock } from './scheduler/clock.js';
import { emptySyncMetrics, type SyncMetrics } from './scheduler/sync-status.js';
import { ClientObserver } from './status/client-observer.js';
import { initialEngineStatus } from './status/client-status.js';
import { createResolverLookup, type ResolverLookup } from './sync/settle-conflicts.js';
import { TokenSource } from './sync/token-source.js';
import { Transport } from './sync/transport.js';
import type { ClientOptions, HookPoint } from './types.js';

/** What {@link createClientCore} needs from the file's setup. */
export interface SetupResult {
  readonly sourceId: string;
  readonly userId: string | null;
}

/** Settings of the engine, fixed for the client's life. */
export interface EngineSettings {
  /** Per-request timeout (a snapshot download gets ten times that). */
  readonly requestTimeoutMs: number;
  /** Rows per pull page asked for. */
  readonly pullLimit: number;
  /** Rebase-and-retry rounds per row before a conflict becomes manual. */
  readonly maxConflictRetries: number;
  /** Entries the journal of settled conflicts keeps. */
  readonly maxSettledConflicts: number;
  /** How a client that never synced starts. */
  readonly initialSync: 'hydrate' | 'pull';
  /** Whether the app set `hooks.at` (writes then leave the one-call fast path). */
  readonly hooked: boolean;
  /** Makes the source id of a rotation. */
  readonly createSourceId: () => string;
}

/** Limits of the next bundle; a 413 lowers `maxChanges` for the rest of the client's life. */
export interface BundleLimitsState {
  maxChanges: number;
  readonly maxBytes: number;
}

/**
 * What the client's parts share: the serialised database, the engine context, the observer
 * (status, events, logs), the counters, the transport and the settings. One per client; the
 * facade creates it and hands it to every part.
 */
export interface ClientCore {
  readonly db: SerialDatabase;
  readonly ctx: EngineContext;
  readonly observer: ClientObserver;
  /** Counters of the engine, and of cycles the app ran itself (the scheduler counts its own). */
  readonly metrics: SyncMetrics;
  readonly transport: Transport;
  readonly tokens: TokenSource;
  readonly resolverOf: ResolverLookup;
  readonly settings: EngineSettings;
  readonly limits: BundleLimitsState;
  /** The user the file belongs to: null until the first token names one. */
  userId: string | null;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Room for the request envelope around the changes, in bytes. */
const ENVELOPE_BYTES = 64 * 1024;

/**
 * Builds the shared core of a client from its options, its open database and the file's setup.
 * `realtime` says whether the events stream runs (for `status.realtime`).
 */
export function createClientCore(
  options: ClientOptions,
  db: SerialDatabase,
  setup: SetupResult,
  url: string,
  realtime: boolean,
): ClientCore {
  const clock: Clock | undefined = options.clock;
  const now = options.now ?? (clock ? () => clock.now() : Date.now);
  const hooks = options.hooks;
  const ctx: EngineContext = {
    schema: options.schema,
    codecs: createTableCodecs(options.schema),
    sourceId: setup.sourceId,
    now,
    hook: hooks?.at ? (point: HookPoint) => hooks.at!(point) : () => undefined,
    faults: options.__unsafeFaults,
  };
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  const metrics = emptySyncMetrics();
  const tokens = new TokenSource(options.getToken);
  const fetchImpl = options.fetch ?? globalThis.fetch.bind(globalThis);
  const transport = new Transport({
    url,
    fetch: countingFetch(fetchImpl, {
      sent: (bytes) => (metrics.bytesSent += bytes),
      received: (bytes) => (metrics.bytesReceived += bytes),
    }),
    getToken: tokens.get,
    timeoutMs: requestTimeoutMs,
    clock,
  });
  const observer = new ClientObserver(
    initialEngineStatus({
      sourceId: setup.sourceId,
      userId: setup.userId,
      online: typeof options.online === 'boolean' ? options.online : true,
      foreground: options.foreground ?? true,
    }),
    { realtime, onError: options.onError, onLog: options.onLog },
  );
  return {
    db,
    ctx,
    observer,
    metrics,
    transport,
    tokens,
    resolverOf: createResolverLookup(ctx, options.resolvers),
    settings: {
      requestTimeoutMs,
      pullLimit: options.pullLimit ?? DEFAULT_LIMITS.pullLimit,
      maxConflictRetries: options.maxConflictRetries ?? 3,
      maxSettledConflicts: journalLimitOf(options.maxSettledConflicts),
      initialSync: options.initialSync === 'pull' ? 'pull' : 'hydrate',
      hooked: hooks?.at !== undefined,
      createSourceId: options.createSourceId ?? (() => globalThis.crypto.randomUUID()),
    },
    limits: {
      maxChanges: Math.min(
        options.limits?.maxChanges ?? DEFAULT_LIMITS.maxChanges,
        DEFAULT_LIMITS.maxChanges,
      ),
      maxBytes: Math.max(
        1024,
        (options.limits?.maxBodyBytes ?? DEFAULT_LIMITS.maxBodyBytes) - ENVELOPE_BYTES,
      ),
    },
    userId: setup.userId,
  };
}

function journalLimitOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_SETTLED_CONFLICTS;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FerryError('invalid_argument', 'maxSettledConflicts must be an integer ≥ 1');
  }
  return value;
}

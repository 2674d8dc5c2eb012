import { orderDerived } from './apply/derived-state.js';
import { DEFAULT_LIMITS, FerryError } from '@ferry/protocol';
import { countingFetch } from './counting-fetch.js';
import type { SerialDatabase } from './driver/serial-database.js';
import type { EngineContext } from './engine-context.js';
import { FileUser } from './local/file-user.js';
import { EngineRecorder } from './status/engine-recorder.js';
import type { CycleParts } from './sync/cycle-runner.js';
import { DEFAULT_MAX_SETTLED_CONFLICTS } from './local/settled-journal.js';
import { createTableCodecs } from './local/table-codec.js';
import type { Clock } from './scheduler/clock.js';
import { emptySyncMetrics, type SyncMetrics } from './scheduler/sync-status.js';
import { ClientObserver } from './status/client-observer.js';
import { initialEngineStatus } from './status/client-status.js';
import { createResolverLookup } from './conflicts/resolver-lookup.js';
import { TokenSource } from './sync/token-source.js';
import { Transport } from './sync/transport.js';
import type { ClientOptions, HookPoint } from './types.js';

/** What {@link createClientParts} needs from the file's setup. */
export interface SetupResult {
  readonly sourceId: string;
  readonly userId: string | null;
}

/**
 * The parts of one client, made once from its options and wired together by the facade: the
 * serialised database, the engine context, the observer of status, events and logs, the
 * recorder that turns the engine's events into them, the counters, the transport, the token
 * source, the file's user, the resolvers, the settings and the limits of the next bundle. No
 * engine step takes this whole: each declares the parts it needs (`LocalParts`,
 * `ExchangeParts`, `CycleParts`, …) and returns or records events.
 */
export interface ClientParts extends CycleParts {
  readonly observer: ClientObserver;
  /** Counters of the engine, and of cycles the app ran itself (the scheduler counts its own). */
  readonly metrics: SyncMetrics;
  readonly tokens: TokenSource;
}

const DEFAULT_TIMEOUT_MS = 30_000;
/** Room for the request envelope around the changes, in bytes. */
const ENVELOPE_BYTES = 64 * 1024;

/**
 * Builds the parts of a client from its options, its open database and the file's setup.
 * `realtime` says whether the events stream runs (for `status.realtime`).
 */
export function createClientParts(
  options: ClientOptions,
  db: SerialDatabase,
  setup: SetupResult,
  url: string,
  realtime: boolean,
): ClientParts {
  const clock: Clock | undefined = options.clock;
  const now = options.now ?? (clock ? () => clock.now() : Date.now);
  const hooks = options.hooks;
  const ctx: EngineContext = {
    schema: options.schema,
    codecs: createTableCodecs(options.schema),
    sourceId: setup.sourceId,
    now,
    hook: hooks?.at ? (point: HookPoint) => hooks.at!(point) : () => undefined,
    derived: orderDerived(options.schema, options.derived ?? []),
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
    schemaVersion: options.schema.version,
    tables: options.tables === undefined ? undefined : options.schema.tables.map((t) => t.name),
    clock,
  });
  const observer = new ClientObserver(
    initialEngineStatus({
      sourceId: setup.sourceId,
      userId: setup.userId,
      online: typeof options.online === 'boolean' ? options.online : true,
      foreground: options.foreground ?? true,
      storage: options.driver.storage ?? 'unknown',
    }),
    { realtime, onError: options.onError, onLog: options.onLog },
  );
  return {
    db,
    ctx,
    observer,
    recorder: new EngineRecorder(observer, metrics),
    metrics,
    transport,
    tokens,
    resolverOf: createResolverLookup(ctx.schema, options.resolvers),
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
    user: new FileUser(setup.userId),
  };
}

function journalLimitOf(value: number | undefined): number {
  if (value === undefined) return DEFAULT_MAX_SETTLED_CONFLICTS;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FerryError('invalid_argument', 'maxSettledConflicts must be an integer ≥ 1');
  }
  return value;
}

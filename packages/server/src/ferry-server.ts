import { join } from 'node:path';
import {
  DEFAULT_LIMITS,
  FerryError,
  asSchemaHistory,
  isSchemaHistory,
  type Schema,
  type SchemaHistory,
} from '@ferry/protocol';
import { createAuthenticator, type AuthOptions } from './auth.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';
import { checkUserId } from './core/user-id.js';
import { serverHooksProblem } from './core/check-server-hooks.js';
import type { ServerHooks } from './core/server-hooks.js';
import type { RetentionPolicy } from './core/decide-retention.js';
import { withCors, type CorsOptions } from './http/cors.js';
import { createHandler, isServerPath } from './http/create-handler.js';
import { resolveConnectionOptions, type ConnectionOptions } from './http/connection-options.js';
import { listenNode, type ListenOptions, type NodeListener } from './http/node-adapter.js';
import { SILENT_LOGGER, createDefaultLogger, type FerryLogger } from './logger.js';
import { createServerMetrics, type ServerMetrics } from './metrics.js';
import { PokeHub } from './poke-hub.js';
import { RateLimiter, type RateLimit } from './rate-limiter.js';
import type {
  BackendWriteTx,
  CommittedBundle,
  PruneOutcome,
  ServerStore,
  WriteOutcome,
} from './store/server-store.js';
import { createSqliteStore } from './store/sqlite/sqlite-store.js';

/** Request limits of a server. */
export interface LimitOptions {
  /** Largest request body in bytes (default 10 MiB). */
  readonly maxBodyBytes?: number;
  /** Most changes in one push (default 10,000). */
  readonly maxChanges?: number;
  /** Largest pull page a client may ask for, in rows (default 50,000). */
  readonly maxPullLimit?: number;
  /** Pull page size when the request names none, in rows (default 5,000). */
  readonly pullLimit?: number;
  /** Per-user request rate (default 100/s with a burst of 200); `false` turns it off. */
  readonly rateLimit?: RateLimit | false;
  /** Snapshot downloads one user may have in progress at once; one more gets 429 (default 2). */
  readonly maxSnapshotsPerUser?: number;
  /**
   * Snapshot downloads in progress at once, all users; one more gets 503 with Retry-After.
   * Default: what the store says it can hold without starving pushes and pulls (PostgreSQL:
   * half its pool), else 16.
   */
  readonly maxSnapshots?: number;
}

/** How long pull history is kept, and how often it is pruned. */
export interface RetentionOptions extends RetentionPolicy {
  /** How often pruning runs (default 60,000 ms); 0 turns the timer off. */
  readonly intervalMs?: number;
}

/** Options of `GET /v1/events`. */
export interface EventOptions {
  /** Keep-alive comment interval (default 15,000 ms). */
  readonly heartbeatMs?: number;
  /** Open streams per user; one more gets 429 (default 10). */
  readonly maxConnectionsPerUser?: number;
  /** Open streams of all users; one more gets 503 with Retry-After (default 10,000). */
  readonly maxConnections?: number;
}

/** Options of {@link createFerryServer}. */
export interface FerryServerOptions {
  /**
   * The schema, or the history of its versions ({@link schemaHistory}): the server runs the
   * newest, migrating its database on start, and serves clients of every version of it.
   */
  readonly schema: Schema | SchemaHistory;
  /**
   * The oldest schema version whose clients are served (default: the history's first); older
   * ones get 426 `schema_too_old` and keep their data and changes until the app is updated.
   */
  readonly oldestSchemaVersion?: number;
  /** Where rows and sync metadata live (default: SQLite in `./ferry-data/ferry.db`). */
  readonly store?: ServerStore;
  readonly auth: AuthOptions;
  readonly limits?: LimitOptions;
  /** Pull history retention (default: 30 days, no count limit). */
  readonly retention?: RetentionOptions;
  readonly events?: EventOptions;
  /** A pino-compatible logger, or `false` for none (default: pino on stdout). */
  readonly logger?: FerryLogger | false;
  /**
   * How often to look for writes made to the business tables outside the server (raw SQL by
   * other processes) and turn them into bundles and pokes (default 1,000 ms; 0: only before
   * pushes, pulls and snapshots).
   */
  readonly externalPollMs?: number;
  /**
   * How long `close()` lets in-flight requests finish (default 10,000 ms); then their
   * connections are closed, which aborts them and releases what they hold.
   */
  readonly shutdownTimeoutMs?: number;
  /** Deadlines and bounds of the connections `listen()` serves; see {@link ConnectionOptions}. */
  readonly connections?: ConnectionOptions;
  /** Lets browser apps of these origins call the server (default: no cross-origin access). */
  readonly cors?: CorsOptions;
  /**
   * Answers the requests the server has no route for, outside `/v1`, `/healthz` and
   * `/metrics`: a web app's pages and files served from the sync server's own origin (no CORS
   * needed), say. Default: 404.
   */
  readonly app?: (request: Request) => Promise<Response>;
  /**
   * Server-side rules: per-table `validate` / `authorize` hooks that may refuse pushed changes
   * with their own code and message, and `beforeCommit`, which writes other rows in the push's
   * transaction. See {@link ServerHooks}.
   */
  readonly hooks?: ServerHooks;
}

/** A running Ferry server. */
export interface FerryServer extends AsyncDisposable {
  /** The fetch handler (web `Request` in, `Response` out), for any framework or runtime. */
  readonly handler: (request: Request) => Promise<Response>;
  readonly store: ServerStore;
  /** The schema it runs: the newest version of its history. */
  readonly schema: Schema;
  /** Every version of the schema it knows, oldest first. */
  readonly history: SchemaHistory;
  /** The server's own Prometheus registry and metrics. */
  readonly metrics: ServerMetrics;
  /**
   * Serves the handler over HTTP with `node:http` (default 127.0.0.1:8787), with the server's
   * `connections` options unless `options` overrides them.
   */
  listen(options?: ListenOptions): Promise<{ url: string; host: string; port: number }>;
  /**
   * Writes business rows from backend code in one transaction. Every effect (also cascades,
   * and raw SQL through `tx.execute` on any user's rows) commits as a bundle of each affected
   * user with `sourceId: null`, and their devices get a poke.
   */
  write<T>(userId: string, fn: (tx: BackendWriteTx) => Promise<T> | T): Promise<WriteOutcome<T>>;
  /** Prunes pull history by the retention policy now. */
  prune(now?: Date): Promise<PruneOutcome>;
  /**
   * Graceful shutdown: new requests get 503, event streams end, in-flight requests finish (up
   * to `shutdownTimeoutMs`; then their connections are closed and what they hold is released),
   * then the listener and the store close. Idempotent.
   */
  close(): Promise<void>;
}

const DEFAULT_RATE_LIMIT: RateLimit = { requestsPerSecond: 100, burst: 200 };
const DEFAULT_MAX_SNAPSHOTS = 16;
const DEFAULT_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;

/**
 * Creates a Ferry sync server: opens the store for the schema and returns the handler plus a
 * Node listener, the backend write API and a graceful `close()`.
 *
 * @example
 * const server = await createFerryServer({
 *   schema: todoSchema,
 *   store: createSqliteStore({ path: './data/ferry.db' }),
 *   auth: { jwtSecret: process.env.FERRY_JWT_SECRET! },
 * });
 * const { url } = await server.listen({ port: 8787 });
 * await server.write('alice', (tx) => tx.upsert('lists', { id, name: 'Groceries' }));
 * await server.close();
 */
export async function createFerryServer(options: FerryServerOptions): Promise<FerryServer> {
  if (
    !options.schema ||
    (!isSchemaHistory(options.schema) && typeof options.schema.table !== 'function')
  ) {
    throw new FerryError(
      'invalid_argument',
      'schema must be a Schema made by defineSchema() or a history made by schemaHistory()',
    );
  }
  const history = asSchemaHistory(options.schema);
  const schema = history.latest;
  if (options.oldestSchemaVersion !== undefined && !history.at(options.oldestSchemaVersion)) {
    throw new FerryError(
      'invalid_argument',
      `oldestSchemaVersion ${options.oldestSchemaVersion} is no version of the schema history (${history.versions.map((v) => v.version).join(', ')})`,
    );
  }
  const hooksProblem = serverHooksProblem(schema, options.hooks);
  if (hooksProblem !== undefined) throw new FerryError('invalid_argument', hooksProblem);
  const authenticate = createAuthenticator(options.auth);
  // Checked now, so a bad value fails at start rather than at listen().
  resolveConnectionOptions(options.connections);
  const logger =
    options.logger === false ? SILENT_LOGGER : (options.logger ?? createDefaultLogger());
  const store = options.store ?? createSqliteStore({ path: join('ferry-data', 'ferry.db') });
  await store.open(history);

  const limits = {
    maxBodyBytes: positive(
      options.limits?.maxBodyBytes,
      DEFAULT_LIMITS.maxBodyBytes,
      'maxBodyBytes',
    ),
    maxChanges: positive(options.limits?.maxChanges, DEFAULT_LIMITS.maxChanges, 'maxChanges'),
    maxPullLimit: positive(
      options.limits?.maxPullLimit,
      DEFAULT_LIMITS.maxPullLimit,
      'maxPullLimit',
    ),
    pullLimit: positive(options.limits?.pullLimit, DEFAULT_LIMITS.pullLimit, 'pullLimit'),
  };
  const snapshots = new ConcurrencyLimiter({
    perUser: positive(options.limits?.maxSnapshotsPerUser, 2, 'maxSnapshotsPerUser'),
    total: positive(
      options.limits?.maxSnapshots,
      store.maxSnapshotReaders ?? DEFAULT_MAX_SNAPSHOTS,
      'maxSnapshots',
    ),
  });
  const rateLimit = options.limits?.rateLimit ?? DEFAULT_RATE_LIMIT;
  const metrics = createServerMetrics();
  const hub = new PokeHub({
    heartbeatMs: options.events?.heartbeatMs ?? 15_000,
    maxConnectionsPerUser: options.events?.maxConnectionsPerUser ?? 10,
    maxConnections: options.events?.maxConnections ?? 10_000,
    onCount: (count) => metrics.sseConnections.set(count),
  });
  const retention: RetentionPolicy = {
    maxBundlesPerUser: options.retention?.maxBundlesPerUser,
    maxAgeMs:
      options.retention && 'maxAgeMs' in options.retention
        ? options.retention.maxAgeMs
        : DEFAULT_RETENTION_MS,
  };

  const stopListening = store.onCommit((bundles: readonly CommittedBundle[]) => {
    for (const bundle of bundles) {
      hub.poke(bundle.userId, bundle.bundleSeq);
      // Another instance (or SQL outside any server) committed it: that one counts it.
      if (bundle.remote) continue;
      metrics.bundlesCommitted.inc({ origin: bundle.origin });
      metrics.bundleRows.observe(bundle.rowCount);
      if (bundle.origin === 'backend') {
        logger.info(
          { userId: bundle.userId, bundleSeq: bundle.bundleSeq, rows: bundle.rowCount },
          'backend bundle committed',
        );
      }
    }
  });

  let shuttingDown = false;
  let inFlight = 0;
  let drained: (() => void) | undefined;
  const baseHandler = createHandler({
    schema,
    history,
    oldestSchemaVersion: options.oldestSchemaVersion,
    store,
    authenticate,
    limits,
    rateLimiter: rateLimit === false ? undefined : new RateLimiter(rateLimit),
    hub,
    snapshots,
    metrics,
    logger,
    hooks: options.hooks,
    retryAfterSeconds: 5,
    isShuttingDown: () => shuttingDown,
    begin: () => {
      inFlight++;
      let ended = false;
      return () => {
        if (ended) return;
        ended = true;
        inFlight--;
        if (inFlight === 0) drained?.();
      };
    },
  });
  const api = options.cors ? withCors(baseHandler, options.cors) : baseHandler;
  const app = options.app;
  const handler = app
    ? (request: Request) =>
        isServerPath(new URL(request.url).pathname) ? api(request) : app(request)
    : api;

  const timers: ReturnType<typeof setInterval>[] = [];
  const every = (ms: number, task: () => Promise<unknown>, what: string) => {
    if (ms <= 0) return;
    let running = false;
    const timer = setInterval(() => {
      if (running || shuttingDown) return;
      running = true;
      task()
        .catch((error: unknown) => logger.error({ err: error }, `${what} failed`))
        .finally(() => {
          running = false;
        });
    }, ms);
    timer.unref?.();
    timers.push(timer);
  };
  every(options.externalPollMs ?? 1_000, () => store.drainExternal(), 'capturing external writes');
  const prune = async (now: Date) => {
    const outcome = await store.prune(retention, now);
    if (outcome.tombstones !== undefined) metrics.tombstones.set(outcome.tombstones);
    return outcome;
  };
  every(options.retention?.intervalMs ?? 60_000, () => prune(new Date()), 'pruning');

  const listeners: NodeListener[] = [];
  let closing: Promise<void> | undefined;

  const server: FerryServer = {
    handler,
    store,
    schema,
    history,
    metrics,
    async listen(listenOptions = {}) {
      if (shuttingDown) throw new FerryError('closed', 'the server is closed');
      const listener = await listenNode(handler, { ...options.connections, ...listenOptions });
      listeners.push(listener);
      logger.info({ url: listener.url }, 'listening');
      return { url: listener.url, host: listener.host, port: listener.port };
    },
    write(userId, fn) {
      if (shuttingDown) return Promise.reject(new FerryError('closed', 'the server is closed'));
      const valid = checkUserId(userId);
      if (!valid.ok) {
        return Promise.reject(new FerryError('invalid_argument', `write: ${valid.reason}`));
      }
      return store.write(userId, fn);
    },
    prune(now = new Date()) {
      return prune(now);
    },
    close() {
      closing ??= (async () => {
        shuttingDown = true;
        for (const timer of timers) clearInterval(timer);
        hub.close();
        const graceMs = options.shutdownTimeoutMs ?? 10_000;
        const deadline = Date.now() + graceMs;
        // Each listener lets its answers finish within the grace, then closes every connection,
        // which aborts the requests still running (their store reads are released).
        await Promise.all(listeners.map((listener) => listener.close(graceMs)));
        // Requests given to the handler directly (no listener) get what is left of the grace.
        if (inFlight > 0) {
          await new Promise<void>((resolve) => {
            drained = resolve;
            const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()));
            timer.unref?.();
          });
        }
        stopListening();
        await store.close();
      })();
      return closing;
    },
    [Symbol.asyncDispose]() {
      return server.close();
    },
  };
  return server;
}

function positive(value: number | undefined, fallback: number, name: string): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FerryError('invalid_argument', `limits.${name} must be a positive integer`);
  }
  return value;
}

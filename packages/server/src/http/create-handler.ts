import {
  FerryError,
  NDJSON_CONTENT_TYPE,
  PushRequestSchema,
  SyncRequestSchema,
  describeZodError,
  parsePullQuery,
  parseSnapshotQuery,
  SCHEMA_VERSION_HEADER,
  SYNCED_TABLES_HEADER,
  type Schema,
  type SchemaHistory,
} from '@ferry/protocol';
import type { z } from 'zod';
import { bearerToken, type Authenticator, type Identity } from '../auth.js';
import type { ConcurrencyLimiter } from '../concurrency-limiter.js';
import {
  committedInPullJson,
  committedPushResultJson,
  conflictPushResultJson,
  pullResponseJson,
  syncResponseJson,
} from '../core/wire-json.js';
import type { FerryLogger } from '../logger.js';
import type { ServerMetrics } from '../metrics.js';
import type { PokeHub } from '../poke-hub.js';
import type { RateLimiter } from '../rate-limiter.js';
import { hookRefusalsOf } from '../core/rejections.js';
import type { ServerHooks } from '../core/server-hooks.js';
import type { PullOutcome, PushOutcome, ServerStore } from '../store/server-store.js';
import { snapshotAfterHistory } from '../core/decide-cursor.js';
import {
  changeToLatest,
  clientProjections,
  decideClientVersion,
  decideSyncedTables,
  forClient,
  pageForClient,
  snapshotRowFor,
  type ClientProjections,
} from '../core/client-version.js';
import { readJsonBody } from './read-body.js';
import { snapshotStream } from './snapshot-stream.js';
import {
  conflictResponse,
  errorResponse,
  jsonTextResponse,
  responseForError,
} from './responses.js';

/** Seconds a client newer than the server waits before it asks again. */
const SCHEMA_AHEAD_RETRY_SECONDS = 300;

/** The limits a handler enforces, resolved. */
export interface ResolvedLimits {
  readonly maxBodyBytes: number;
  readonly maxChanges: number;
  readonly maxPullLimit: number;
  readonly pullLimit: number;
}

/** What the handler needs from its server. */
export interface HandlerContext {
  /** The newest schema: what the store holds. */
  readonly schema: Schema;
  /** Every version served; a client says which it runs (`x-ferry-schema`). */
  readonly history: SchemaHistory;
  /** The oldest version served (default: the history's first). */
  readonly oldestSchemaVersion?: number | undefined;
  readonly store: ServerStore;
  readonly authenticate: Authenticator;
  readonly limits: ResolvedLimits;
  readonly rateLimiter: RateLimiter | undefined;
  readonly hub: PokeHub;
  /** Open snapshot streams, per user and in total. */
  readonly snapshots: ConcurrencyLimiter;
  readonly metrics: ServerMetrics;
  readonly logger: FerryLogger;
  /** The embedder's rules, handed to every push (see `ServerHooks`). */
  readonly hooks?: ServerHooks | undefined;
  /** Seconds a client should wait before retrying while the server shuts down. */
  readonly retryAfterSeconds: number;
  isShuttingDown(): boolean;
  /** Marks a request in flight; call the returned function once it is completely answered. */
  begin(): () => void;
}

interface RequestLog {
  userId?: string;
  /** The codes of the changes the server's hooks refused. */
  refused?: string[];
  bundleSeq?: number;
  rows?: number;
}

type RouteName = 'push' | 'pull' | 'sync' | 'snapshot' | 'events' | 'healthz' | 'metrics';

interface Route {
  readonly method: 'GET' | 'POST';
  readonly name: RouteName;
  readonly auth: boolean;
}

const ROUTES: Readonly<Record<string, Route>> = {
  '/v1/push': { method: 'POST', name: 'push', auth: true },
  '/v1/pull': { method: 'GET', name: 'pull', auth: true },
  '/v1/sync': { method: 'POST', name: 'sync', auth: true },
  '/v1/snapshot': { method: 'GET', name: 'snapshot', auth: true },
  '/v1/events': { method: 'GET', name: 'events', auth: true },
  '/healthz': { method: 'GET', name: 'healthz', auth: false },
  '/metrics': { method: 'GET', name: 'metrics', auth: false },
};

/** Whether the server itself answers `pathname` (its API under /v1, health and metrics). */
export function isServerPath(pathname: string): boolean {
  return pathname === '/v1' || pathname.startsWith('/v1/') || pathname in ROUTES;
}

/**
 * The server's fetch handler: routes, authentication (every /v1 route denies by default),
 * rate limiting, the shutdown gate, one log line and metrics per request.
 */
export function createHandler(context: HandlerContext): (request: Request) => Promise<Response> {
  return async (request) => {
    const started = performance.now();
    const end = context.begin();
    const requestId = requestIdOf(request);
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      end();
      return errorResponse('bad_request', 'malformed URL');
    }
    const route = ROUTES[url.pathname];
    const routeLabel = route?.name ?? (url.pathname.startsWith('/v1/') ? 'v1_unknown' : 'unknown');
    const log: RequestLog = {};
    let response: Response;
    let streaming = false;
    try {
      response = await dispatch(context, request, url, route, log);
      streaming = response.body !== null && isStream(response);
    } catch (error) {
      if (clientGone(request, error)) {
        response = clientClosedResponse();
      } else {
        response = responseForError(error, context.retryAfterSeconds);
        if (error instanceof FerryError && error.code === 'store_unavailable') {
          context.logger.warn({ err: error, route: routeLabel, requestId }, 'store unavailable');
        } else if (!(error instanceof FerryError) || response.status >= 500) {
          context.logger.error({ err: error, route: routeLabel, requestId }, 'request failed');
        }
      }
    }
    if (request.signal.aborted && response.status !== CLIENT_CLOSED_STATUS) {
      // The client went away while the answer was made: nobody will read it. Release what it
      // holds (a snapshot read, an event stream slot) and count the request as what it is.
      await response.body?.cancel(request.signal.reason).catch(() => undefined);
      response = clientClosedResponse();
      streaming = false;
    }
    const durationMs = Math.round((performance.now() - started) * 100) / 100;
    response.headers.set('x-request-id', requestId);
    if (log.bundleSeq !== undefined)
      response.headers.set('x-ferry-bundle-seq', String(log.bundleSeq));
    context.metrics.requests.inc({ route: routeLabel, status: String(response.status) });
    if (route?.name === 'push' || (route?.name === 'sync' && log.bundleSeq !== undefined)) {
      context.metrics.pushSeconds.observe(durationMs / 1000);
    }
    if (route?.name === 'pull' || route?.name === 'sync') {
      context.metrics.pullSeconds.observe(durationMs / 1000);
    }
    if (routeLabel !== 'metrics' && routeLabel !== 'healthz') {
      context.logger.info(
        {
          requestId,
          method: request.method,
          route: url.pathname,
          status: response.status,
          durationMs,
          ...log,
        },
        'request',
      );
    }
    if (streaming && response.body) {
      return new Response(trackStream(response.body, end), {
        status: response.status,
        headers: response.headers,
      });
    }
    end();
    return response;
  };
}

/**
 * The status a request is counted and logged with when its client went away before the answer
 * (nginx's "client closed request"): neither the client's fault in the protocol's sense nor a
 * server error. Nobody receives it.
 */
const CLIENT_CLOSED_STATUS = 499;

function clientClosedResponse(): Response {
  return new Response(null, { status: CLIENT_CLOSED_STATUS });
}

/** True when `error` only says that the request's client went away. */
function clientGone(request: Request, error: unknown): boolean {
  return request.signal.aborted || (error instanceof FerryError && error.code === 'aborted');
}

/** The caller's `x-request-id` when it is a sane token, else a new one. */
function requestIdOf(request: Request): string {
  const given = request.headers.get('x-request-id');
  return given && /^[\w.:-]{1,128}$/.test(given) ? given : crypto.randomUUID();
}

const STREAMING_TYPES = ['text/event-stream', NDJSON_CONTENT_TYPE];

function isStream(response: Response): boolean {
  const type = response.headers.get('content-type') ?? '';
  return STREAMING_TYPES.some((t) => type.startsWith(t));
}

async function dispatch(
  context: HandlerContext,
  request: Request,
  url: URL,
  route: Route | undefined,
  log: RequestLog,
): Promise<Response> {
  if (request.signal.aborted) throw new FerryError('aborted', 'the client went away');
  if (context.isShuttingDown()) {
    return errorResponse('unavailable', 'the server is shutting down', undefined, {
      'retry-after': String(context.retryAfterSeconds),
    });
  }
  const needsAuth = route ? route.auth : url.pathname.startsWith('/v1/') || url.pathname === '/v1';
  let identity: Identity | null = null;
  if (needsAuth) {
    const token = bearerToken(request, url, route?.name === 'events');
    identity = await context.authenticate(request, token);
    if (!identity) {
      return errorResponse('unauthorized', 'a valid bearer token is required', undefined, {
        'www-authenticate': 'Bearer',
      });
    }
    log.userId = identity.userId;
  }
  if (!route) return errorResponse('not_found', `no route ${url.pathname}`);
  if (request.method !== route.method) {
    return errorResponse(
      'method_not_allowed',
      `${url.pathname} accepts ${route.method} only`,
      undefined,
      { allow: route.method },
    );
  }
  if (identity && context.rateLimiter) {
    const taken = context.rateLimiter.take(identity.userId, Date.now());
    if (!taken.ok) {
      return errorResponse(
        'rate_limited',
        `too many requests; retry in ${taken.retryAfterSeconds} s`,
        { retryAfterSeconds: taken.retryAfterSeconds },
        { 'retry-after': String(taken.retryAfterSeconds) },
      );
    }
  }
  let client: ClientProjections | undefined;
  if (route.auth) {
    const raw = request.headers.get(SCHEMA_VERSION_HEADER) ?? url.searchParams.get('schema');
    const decided = decideClientVersion(raw, context.history, context.oldestSchemaVersion);
    switch (decided.kind) {
      case 'invalid':
        return errorResponse('bad_request', decided.message);
      case 'ahead':
        return errorResponse(
          'schema_ahead',
          `this client runs schema version ${decided.version}, newer than the server's ${decided.latest}: keep the changes and retry once the server is updated`,
          { clientVersion: decided.version, serverVersion: decided.latest },
          { 'retry-after': String(SCHEMA_AHEAD_RETRY_SECONDS) },
        );
      case 'too_old':
        return errorResponse(
          'schema_too_old',
          `this client runs schema version ${decided.version}; the server serves versions ${decided.oldest} to ${context.history.latest.version}: update the app`,
          {
            clientVersion: decided.version,
            oldestVersion: decided.oldest,
            serverVersion: context.history.latest.version,
          },
        );
      case 'serve': {
        const synced = decideSyncedTables(
          request.headers.get(SYNCED_TABLES_HEADER),
          context.history.at(decided.version)!,
        );
        if (!synced.ok) return errorResponse('bad_request', synced.message);
        client = clientProjections(context.history, decided.version, synced.tables);
      }
    }
  }
  switch (route.name) {
    case 'healthz':
      return health(context);
    case 'metrics':
      return new Response(await context.metrics.registry.metrics(), {
        headers: { 'content-type': context.metrics.registry.contentType },
      });
    case 'push':
      return push(context, request, identity!, log, client!);
    case 'pull':
      return pull(context, url, identity!, log, client!);
    case 'sync':
      return sync(context, request, identity!, log, client!);
    case 'snapshot':
      return snapshot(context, request, url, identity!, log, client!);
    case 'events':
      return events(context, request, identity!);
  }
}

async function health(context: HandlerContext): Promise<Response> {
  try {
    await context.store.ping();
    return jsonTextResponse('{"ok":true}');
  } catch (error) {
    context.logger.warn({ err: error }, 'health check failed');
    return errorResponse('unavailable', 'the store does not answer', undefined, {
      'retry-after': String(context.retryAfterSeconds),
    });
  }
}

async function parseBody<T>(
  context: HandlerContext,
  request: Request,
  schema: z.ZodType<T>,
  countChanges: (body: unknown) => unknown,
): Promise<T> {
  const body = await readJsonBody(request, context.limits.maxBodyBytes);
  // Count before the full parse, so a huge bundle is refused cheaply.
  const changes = countChanges(body);
  if (Array.isArray(changes) && changes.length > context.limits.maxChanges) {
    throw new FerryError(
      'payload_too_large',
      `${changes.length} changes in one push; at most ${context.limits.maxChanges} allowed`,
      { details: { maxChanges: context.limits.maxChanges } },
    );
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw new FerryError('bad_request', describeZodError(parsed.error));
  return parsed.data;
}

function field(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}

async function push(
  context: HandlerContext,
  request: Request,
  identity: Identity,
  log: RequestLog,
  client: ClientProjections,
): Promise<Response> {
  const body = await parseBody(context, request, PushRequestSchema, (b) => field(b, 'changes'));
  const outcome = await context.store.push({
    userId: identity.userId,
    sourceId: body.sourceId.toLowerCase(),
    sourceBundleId: body.sourceBundleId,
    changes: body.changes.map((change) => changeToLatest(change, client.toLatest)),
    sentChanges: client.toLatest.identity ? undefined : body.changes,
    now: new Date(),
    pullAfter: body.after,
    pullAfterToken: body.afterToken,
    basesAt: body.basesAt,
    hooks: context.hooks,
    claims: identity.claims,
  });
  noteRefusals(context, outcome, log);
  return pushOutcomeResponse(forClient(outcome, body.changes, client), log);
}

/** Counts and logs the changes the server's hooks refused, when the push was refused so. */
function noteRefusals(context: HandlerContext, outcome: PushOutcome, log: RequestLog): void {
  if (outcome.kind !== 'rejected') return;
  const refused = hookRefusalsOf(outcome);
  if (refused.length === 0) return;
  for (const { hook, hookCode } of refused) {
    context.metrics.pushRefusals.inc({ hook, code: hookCode });
  }
  log.refused = refused.map((change) => change.hookCode);
}

function pushOutcomeResponse(outcome: PushOutcome, log: RequestLog): Response {
  switch (outcome.kind) {
    case 'committed':
      log.bundleSeq = outcome.bundleSeq;
      log.rows = outcome.rowCount;
      return jsonTextResponse(outcome.responseJson);
    case 'conflict':
      return conflictResponse(outcome.conflicts, outcome.head);
    case 'rejected':
      return errorResponse(outcome.code, outcome.message, outcome.details);
  }
}

function pullLimit(context: HandlerContext, limit: number | undefined): number {
  return Math.min(limit ?? context.limits.pullLimit, context.limits.maxPullLimit);
}

async function pull(
  context: HandlerContext,
  url: URL,
  identity: Identity,
  log: RequestLog,
  client: ClientProjections,
): Promise<Response> {
  const query = parsePullQuery(url.searchParams, context.limits.maxPullLimit);
  if (!query.ok) return errorResponse('bad_request', query.message);
  const limit = url.searchParams.has('limit') ? query.query.limit : context.limits.pullLimit;
  const outcome = await context.store.pull({
    userId: identity.userId,
    after: query.query.after,
    limit: pullLimit(context, limit),
    token: query.query.token,
  });
  return pullOutcomeResponse(
    outcome.kind === 'page' ? { ...outcome, page: pageForClient(outcome.page, client) } : outcome,
    log,
  );
}

function pullOutcomeResponse(outcome: PullOutcome, log: RequestLog): Response {
  if (outcome.kind === 'rejected') {
    return errorResponse(outcome.code, outcome.message, outcome.details);
  }
  log.rows = outcome.page.bundles.reduce((sum, b) => sum + b.rowCount, 0);
  return jsonTextResponse(pullResponseJson(outcome.page));
}

async function sync(
  context: HandlerContext,
  request: Request,
  identity: Identity,
  log: RequestLog,
  client: ClientProjections,
): Promise<Response> {
  const body = await parseBody(context, request, SyncRequestSchema, (b) =>
    field(field(b, 'push'), 'changes'),
  );
  const now = new Date();
  const pullInput = {
    userId: identity.userId,
    after: body.after,
    limit: pullLimit(context, body.limit),
    token: body.afterToken,
  };
  const outcome = await context.store.sync({
    push: body.push
      ? {
          userId: identity.userId,
          sourceId: body.sourceId.toLowerCase(),
          sourceBundleId: body.push.sourceBundleId,
          changes: body.push.changes.map((change) => changeToLatest(change, client.toLatest)),
          sentChanges: client.toLatest.identity ? undefined : body.push.changes,
          now,
          basesAt: body.basesAt,
          hooks: context.hooks,
          claims: identity.claims,
        }
      : null,
    pull: pullInput,
    now,
  });
  let pushJson: string | null = null;
  const pushed =
    outcome.push && body.push ? forClient(outcome.push, body.push.changes, client) : null;
  if (pushed?.kind === 'rejected') {
    noteRefusals(context, pushed, log);
    return errorResponse(pushed.code, pushed.message, pushed.details);
  }
  if (pushed?.kind === 'committed') log.bundleSeq = pushed.bundleSeq;
  const rawPull = outcome.pull!;
  if (rawPull.kind === 'rejected') {
    return errorResponse(rawPull.code, rawPull.message, rawPull.details);
  }
  const pulled = { ...rawPull, page: pageForClient(rawPull.page, client) };
  if (pushed?.kind === 'conflict') {
    pushJson = conflictPushResultJson(pushed.conflicts, pushed.head);
  } else if (pushed?.kind === 'committed') {
    const seq = pushed.bundleSeq;
    const inPage =
      body.pushRows === 'unless-pulled'
        ? pulled.page.bundles.find((bundle) => bundle.bundleSeq === seq)
        : undefined;
    pushJson = inPage
      ? committedInPullJson(inPage, body.push!.sourceBundleId)
      : committedPushResultJson(pushed.responseJson);
  }
  log.rows = pulled.page.bundles.reduce((sum, b) => sum + b.rowCount, 0);
  return jsonTextResponse(syncResponseJson(pushJson, pullResponseJson(pulled.page)));
}

async function snapshot(
  context: HandlerContext,
  request: Request,
  url: URL,
  identity: Identity,
  log: RequestLog,
  client: ClientProjections,
): Promise<Response> {
  const parsed = parseSnapshotQuery(url.searchParams);
  if (!parsed.ok) return errorResponse('bad_request', parsed.message);
  const query = parsed.query;
  const slot = context.snapshots.tryAcquire(identity.userId);
  if (!slot.ok) {
    return slot.reason === 'user'
      ? tooMany(context, 'too many snapshot downloads in progress for this user')
      : overloaded(context, 'too many snapshot downloads in progress; retry later');
  }
  let reader;
  try {
    reader = await context.store.snapshot(identity.userId, query.after);
  } catch (error) {
    slot.lease.release();
    throw error;
  }
  log.bundleSeq = reader.snapshotBundleSeq;
  const body = snapshotStream(reader, {
    signal: request.signal,
    logger: context.logger,
    onEnd: () => slot.lease.release(),
    projectRow: client.fromLatest.identity
      ? undefined
      : (line) => snapshotRowFor(line, client.fromLatest),
    afterHistory:
      query.after === undefined || reader.cursor === undefined
        ? undefined
        : snapshotAfterHistory({ after: query.after, token: query.token }, reader.cursor),
  });
  return new Response(body, {
    headers: {
      'content-type': `${NDJSON_CONTENT_TYPE}; charset=utf-8`,
      'cache-control': 'no-store',
    },
  });
}

async function events(
  context: HandlerContext,
  request: Request,
  identity: Identity,
): Promise<Response> {
  const current = await context.store.lastBundleSeq(identity.userId);
  const opened = context.hub.open(identity.userId, current, request.signal);
  if (!opened.ok) {
    if (request.signal.aborted) throw new FerryError('aborted', 'the client went away');
    return opened.reason === 'user'
      ? tooMany(context, 'too many open event streams for this user')
      : overloaded(
          context,
          opened.reason === 'total'
            ? 'too many open event streams; retry later'
            : 'the server is shutting down',
        );
  }
  return new Response(opened.stream, {
    headers: {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      'x-accel-buffering': 'no',
    },
  });
}

/** 429: the user holds their share of a capped resource. */
function tooMany(context: HandlerContext, message: string): Response {
  return errorResponse(
    'rate_limited',
    message,
    { retryAfterSeconds: context.retryAfterSeconds },
    { 'retry-after': String(context.retryAfterSeconds) },
  );
}

/** 503: the server as a whole is at a cap. */
function overloaded(context: HandlerContext, message: string): Response {
  return errorResponse('unavailable', message, undefined, {
    'retry-after': String(context.retryAfterSeconds),
  });
}

/** Passes a stream through and calls `done` once, when it ends, fails or is cancelled. */
function trackStream(stream: ReadableStream<Uint8Array>, done: () => void) {
  const reader = stream.getReader();
  let finished = false;
  const finish = () => {
    if (!finished) {
      finished = true;
      done();
    }
  };
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const next = await reader.read();
          if (next.done) {
            controller.close();
            finish();
          } else {
            controller.enqueue(next.value);
          }
        } catch (error) {
          controller.error(error);
          finish();
        }
      },
      async cancel(reason) {
        finish();
        await reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

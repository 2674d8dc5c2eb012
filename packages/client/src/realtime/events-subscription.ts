/**
 * The client side of `GET /v1/events`: a Server-Sent Events subscription over `fetch`
 * streaming (Node 20 has no `EventSource`), that turns `poke` events into calls of `onPoke`,
 * reconnects with backoff, treats a silent connection as dead, and reports whether it is
 * connected so the scheduler knows when pokes may be missing.
 *
 * @module
 */
import {
  ErrorBodySchema,
  FerryError,
  PokeSchema,
  isProtocolErrorCode,
  type FerryErrorCode,
  type ClientRequestHeader,
} from '@ferry/protocol';
import { backoffDelay, resolveBackoffOptions, type BackoffOptions } from '../scheduler/backoff.js';
import { classifyFailure, type Failure } from '../scheduler/classify-failure.js';
import { createSystemClock, sleep, type Clock, type TimerId } from '../scheduler/clock.js';
import type { LogEntry, LogLevel } from '../scheduler/log-entry.js';
import type { EventsControl } from '../scheduler/sync-scheduler.js';
import { createSseParser, type SseItem } from './sse-parser.js';

/** Reconnect delays of the events subscription: 1 s base, 1 min cap. */
export const DEFAULT_EVENTS_BACKOFF: BackoffOptions = {
  baseMs: 1_000,
  serverErrorBaseMs: 5_000,
  capMs: 60_000,
  maxRetryAfterMs: 10 * 60_000,
};

/**
 * A connection that delivers nothing for this long is dead: three missed heartbeats of the
 * server's 15 s.
 */
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 45_000;

/** Options of {@link createEventsSubscription}. */
export interface EventsSubscriptionOptions {
  /** The full URL of the server's `GET /v1/events`. */
  readonly url: string | URL;
  /** The current token; called before every connection attempt. */
  readonly getToken: () => string | Promise<string>;
  /**
   * Where the token goes: the `Authorization` header (default), or the `access_token` query
   * parameter for environments that cannot set headers on a stream.
   */
  readonly tokenIn?: 'header' | 'query';
  /** The schema version the app runs, sent as `x-ferry-schema` (or `?schema=` with the token in the query). */
  readonly schemaVersion?: number | undefined;
  /** Default `globalThis.fetch`. */
  readonly fetch?: typeof globalThis.fetch;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Reconnect jitter, numbers in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Reconnect delays; defaults {@link DEFAULT_EVENTS_BACKOFF}. */
  readonly backoff?: { readonly [K in keyof BackoffOptions]?: BackoffOptions[K] | undefined };
  /** Default {@link DEFAULT_HEARTBEAT_TIMEOUT_MS}. */
  readonly heartbeatTimeoutMs?: number;
  /** A poke: the server committed bundle `bundleSeq` (null when the poke was malformed). */
  readonly onPoke: (bundleSeq: number | null) => void;
  /** The subscription connected (a 200 event stream) or lost its connection. */
  readonly onConnectionChange?: (connected: boolean) => void;
  /** Errors of connection attempts and of callbacks; never thrown into the void. */
  readonly onError?: (error: unknown) => void;
  /** Structured log events. */
  readonly onLog?: (entry: LogEntry) => void;
}

/** Where the subscription is. */
export interface EventsSubscriptionStatus {
  readonly state: 'stopped' | 'connecting' | 'connected' | 'waiting' | 'closed';
  /** Connection attempts in a row that ended without receiving anything. */
  readonly attempts: number;
  /** When `waiting`: the time of the next attempt. */
  readonly nextAttemptAt: number | null;
  /** Why the last connection ended, when it failed. */
  readonly lastError: Failure | null;
  /** When the last bytes (an event or a heartbeat) arrived. */
  readonly lastDataAt: number | null;
}

/**
 * A subscription to the server's events. `start()` / `stop()` / `reconnect()` match the
 * scheduler's `EventsControl`, so it can be handed to `createSyncScheduler({ events })`.
 */
export interface EventsSubscription extends EventsControl, AsyncDisposable {
  readonly status: EventsSubscriptionStatus;
  /** Stops for good and waits until the connection is torn down. */
  close(): Promise<void>;
}

/**
 * Creates the subscription (not yet started).
 *
 * @example
 * const events = createEventsSubscription({
 *   url: new URL('/v1/events', serverUrl),
 *   getToken: () => auth.token,
 *   onPoke: (bundleSeq) => scheduler.poke(bundleSeq),
 *   onConnectionChange: (connected) => scheduler.setRealtimeConnected(connected),
 * });
 * const scheduler = createSyncScheduler({ runCycle, events });
 */
export function createEventsSubscription(options: EventsSubscriptionOptions): EventsSubscription {
  return new EventsSubscriptionImpl(options);
}

type EndCause = 'stop' | 'reconnect' | 'heartbeat';

/** One connection attempt (or the wait before one): its controller and why it was ended. */
interface Attempt {
  readonly controller: AbortController;
  cause: EndCause | null;
}

class EventsSubscriptionImpl implements EventsSubscription {
  readonly #options: EventsSubscriptionOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #backoff: BackoffOptions;
  readonly #heartbeatTimeoutMs: number;
  readonly #fetch: typeof globalThis.fetch;
  #generation = 0;
  #started = false;
  #closed = false;
  #loop: Promise<void> = Promise.resolve();
  #attempt: Attempt | null = null;
  #connected = false;
  #state: EventsSubscriptionStatus['state'] = 'stopped';
  #attempts = 0;
  #nextAttemptAt: number | null = null;
  #lastError: Failure | null = null;
  #serverRetryMs = 0;
  #lastDataAt: number | null = null;
  #watchdog: TimerId | null = null;

  constructor(options: EventsSubscriptionOptions) {
    this.#options = options;
    this.#clock = options.clock ?? createSystemClock();
    this.#random = options.random ?? Math.random;
    this.#backoff = resolveBackoffOptions(options.backoff, DEFAULT_EVENTS_BACKOFF);
    this.#heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
    if (!Number.isFinite(this.#heartbeatTimeoutMs) || this.#heartbeatTimeoutMs < 1) {
      throw new FerryError('invalid_argument', 'heartbeatTimeoutMs must be a number ≥ 1');
    }
    const fetchImpl = options.fetch ?? globalThis.fetch;
    if (typeof fetchImpl !== 'function') {
      throw new FerryError('not_supported', 'no fetch implementation: pass options.fetch');
    }
    this.#fetch = fetchImpl;
  }

  get status(): EventsSubscriptionStatus {
    return {
      state: this.#state,
      attempts: this.#attempts,
      nextAttemptAt: this.#nextAttemptAt,
      lastError: this.#lastError,
      lastDataAt: this.#lastDataAt,
    };
  }

  start(): void {
    if (this.#closed || this.#started) return;
    this.#started = true;
    const generation = ++this.#generation;
    // A previous loop that is still winding down finishes first; then this one runs.
    this.#loop = this.#loop.then(() => this.#run(generation));
  }

  stop(): void {
    if (!this.#started) return;
    this.#started = false;
    this.#generation++;
    this.#end('stop');
    if (!this.#closed) this.#state = 'stopped';
  }

  reconnect(): void {
    if (!this.#started) return;
    this.#attempts = 0;
    this.#end('reconnect');
  }

  async close(): Promise<void> {
    if (!this.#closed) {
      this.stop();
      this.#closed = true;
      this.#state = 'closed';
    }
    await this.#loop;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #end(cause: EndCause): void {
    const attempt = this.#attempt;
    if (attempt === null || attempt.controller.signal.aborted) return;
    attempt.cause = cause;
    attempt.controller.abort(new FerryError('aborted', `events connection ended: ${cause}`));
  }

  #current(generation: number): boolean {
    return this.#started && !this.#closed && generation === this.#generation;
  }

  async #run(generation: number): Promise<void> {
    while (this.#current(generation)) {
      const attempt: Attempt = { controller: new AbortController(), cause: null };
      this.#attempt = attempt;
      let failure: Failure | null = null;
      try {
        await this.#connect(attempt);
        this.#log('info', 'events-ended', 'the server ended the events stream', {});
      } catch (error) {
        if (attempt.cause === 'heartbeat') {
          failure = classifyFailure(
            new FerryError(
              'timeout',
              `nothing from the events endpoint for ${this.#heartbeatTimeoutMs} ms`,
              {
                cause: error,
              },
            ),
          );
        } else if (attempt.cause === null) {
          failure = classifyFailure(error);
          this.#report(error);
        }
      } finally {
        this.#disarmWatchdog();
        this.#setConnected(false);
      }
      if (failure !== null) {
        this.#lastError = failure;
        this.#log('warn', 'events-failed', `events connection failed: ${failure.message}`, {
          failureClass: failure.class,
          status: failure.status,
          attempts: this.#attempts + 1,
        });
      }
      if (!this.#current(generation)) break;
      if (attempt.cause === 'reconnect') continue;

      const delay = backoffDelay(
        {
          attempt: this.#attempts,
          failureClass: failure?.class,
          retryAfterMs: Math.max(failure?.retryAfterMs ?? 0, this.#serverRetryMs),
        },
        this.#backoff,
        this.#random,
      );
      this.#attempts++;
      const wait: Attempt = { controller: new AbortController(), cause: null };
      this.#attempt = wait;
      this.#state = 'waiting';
      this.#nextAttemptAt = this.#clock.now() + delay;
      try {
        await sleep(delay, wait.controller.signal, this.#clock);
      } catch {
        // stop() or reconnect() cut the wait short; the loop condition decides what follows.
      }
      this.#nextAttemptAt = null;
    }
    if (generation === this.#generation) this.#attempt = null;
  }

  /** One connection: resolves when the server ends the stream, throws when it fails. */
  async #connect(attempt: Attempt): Promise<void> {
    const { signal } = attempt.controller;
    this.#state = 'connecting';
    const token = await this.#options.getToken();
    signal.throwIfAborted();
    const url = new URL(String(this.#options.url));
    const headers: Partial<Record<ClientRequestHeader, string>> = {
      accept: 'text/event-stream',
      'cache-control': 'no-cache',
    };
    if (this.#options.tokenIn === 'query') url.searchParams.set('access_token', token);
    else headers['authorization'] = `Bearer ${token}`;
    const version = this.#options.schemaVersion;
    if (version !== undefined) {
      if (this.#options.tokenIn === 'query') url.searchParams.set('schema', String(version));
      else headers['x-ferry-schema'] = String(version);
    }

    // The same watchdog bounds the wait for the response headers: a server (or proxy) that
    // accepts the connection and never answers must not hang the subscription.
    this.#armWatchdog(attempt);
    let response: Response;
    try {
      response = await this.#fetch(url, { headers, signal, cache: 'no-store' });
    } catch (error) {
      if (signal.aborted) throw error;
      throw new FerryError('network', `GET ${url.pathname} failed: ${messageOf(error)}`, {
        cause: error,
      });
    }
    if (!response.ok) throw await errorFromResponse(response, url, this.#clock.now());
    const contentType = response.headers.get('content-type') ?? '';
    if (!contentType.toLowerCase().startsWith('text/event-stream') || response.body === null) {
      await response.body?.cancel().catch(() => undefined);
      throw new FerryError(
        'bad_response',
        `GET ${url.pathname} answered ${contentType || 'no content type'}, not an event stream`,
        { status: response.status },
      );
    }

    this.#state = 'connected';
    this.#setConnected(true);
    this.#armWatchdog(attempt);
    const reader = response.body.getReader();
    const parser = createSseParser();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        // Anything from the server, a heartbeat comment included, proves the connection lives.
        this.#attempts = 0;
        this.#lastError = null;
        this.#lastDataAt = this.#clock.now();
        this.#armWatchdog(attempt);
        for (const item of parser.push(value)) this.#handle(item);
      }
    } finally {
      parser.end();
      reader.cancel().catch(() => undefined);
    }
  }

  #handle(item: SseItem): void {
    switch (item.type) {
      case 'comment':
        return;
      case 'retry':
        this.#serverRetryMs = item.ms;
        return;
      case 'event':
        if (item.event !== 'poke') return; // unknown events are for newer clients
        this.#poke(item.data);
        return;
    }
  }

  #poke(data: string): void {
    let bundleSeq: number | null = null;
    try {
      const parsed = PokeSchema.safeParse(JSON.parse(data));
      if (parsed.success) bundleSeq = parsed.data.bundleSeq;
    } catch {
      // handled below
    }
    if (bundleSeq === null) {
      // A poke is a hint to pull; a malformed one still is. Say so, and pull anyway.
      this.#report(
        new FerryError('bad_response', `malformed poke data: ${data.slice(0, 200)}`, {
          details: { data: data.slice(0, 200) },
        }),
      );
    }
    try {
      this.#options.onPoke(bundleSeq);
    } catch (error) {
      this.#report(error);
    }
  }

  #armWatchdog(attempt: Attempt): void {
    this.#disarmWatchdog();
    this.#watchdog = this.#clock.setTimer({ delay: this.#heartbeatTimeoutMs }, () => {
      this.#watchdog = null;
      if (attempt.controller.signal.aborted) return;
      this.#log('warn', 'events-silent', 'no heartbeat: dropping the events connection', {
        heartbeatTimeoutMs: this.#heartbeatTimeoutMs,
      });
      attempt.cause = 'heartbeat';
      attempt.controller.abort(new FerryError('timeout', 'no heartbeat on the events stream'));
    });
  }

  #disarmWatchdog(): void {
    if (this.#watchdog === null) return;
    this.#clock.clearTimer(this.#watchdog);
    this.#watchdog = null;
  }

  #setConnected(connected: boolean): void {
    if (this.#connected === connected) return;
    this.#connected = connected;
    this.#log(
      'info',
      connected ? 'events-connected' : 'events-disconnected',
      connected ? 'events stream connected' : 'events stream disconnected',
      {},
    );
    try {
      this.#options.onConnectionChange?.(connected);
    } catch (error) {
      this.#report(error);
    }
  }

  #report(error: unknown): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // The error hook itself failed; there is nowhere left to report to.
    }
  }

  #log(level: LogLevel, event: string, message: string, fields: LogEntry['fields']): void {
    try {
      this.#options.onLog?.({ level, event, message, fields });
    } catch (error) {
      this.#report(error);
    }
  }
}

/** A FerryError from a non-2xx answer: the protocol error body's code, Retry-After, status. */
async function errorFromResponse(response: Response, url: URL, now: number): Promise<FerryError> {
  const retryAfterSeconds = parseRetryAfter(response.headers.get('retry-after'), now);
  let code: FerryErrorCode = 'bad_response';
  let message = `GET ${url.pathname} answered ${response.status}`;
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(await response.text()));
    if (parsed.success && isProtocolErrorCode(parsed.data.error.code)) {
      code = parsed.data.error.code;
      message = parsed.data.error.message;
    }
  } catch {
    // Not a protocol error body (a proxy's HTML page, say): keep bad_response with the status.
  }
  return new FerryError(code, message, {
    status: response.status,
    details: retryAfterSeconds === null ? {} : { retryAfterSeconds },
  });
}

/** Retry-After as seconds: delta-seconds or an HTTP date; null when absent or unreadable. */
export function parseRetryAfter(header: string | null, now: number): number | null {
  if (header === null) return null;
  const trimmed = header.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - now) / 1000));
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.message}${cause}`;
  }
  return String(error);
}

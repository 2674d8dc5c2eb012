import { ErrorBodySchema, FerryError, type ClientRequestHeader } from '@ferry/protocol';
import type { Clock } from '../scheduler/clock.js';
import type { GetTokenOptions } from '../types.js';

/** Options of {@link Transport}. */
export interface TransportOptions {
  readonly url: string;
  readonly fetch: typeof fetch;
  readonly getToken: (options?: GetTokenOptions) => string | Promise<string>;
  readonly timeoutMs: number;
  /** The schema version the app runs: every request says it (`x-ferry-schema`). */
  readonly schemaVersion?: number | undefined;
  /** Selective sync: the tables the client syncs, said in every request (`x-ferry-tables`). */
  readonly tables?: readonly string[] | undefined;
  /** Timers of the request timeouts. Default `setTimeout` (an injected clock moves them too). */
  readonly clock?: Pick<Clock, 'setTimer' | 'clearTimer'> | undefined;
}

/** `details` of every error a request throws. */
export interface RequestErrorDetails {
  /** The server's `Retry-After`, in seconds. */
  readonly retryAfterSeconds?: number;
  /** The request id the server sent (`x-request-id`), else the bundle id of a push. */
  readonly correlationId?: string;
  /** Anything else: the server's `error.details` fields, `conflicts` of a 409. */
  readonly [key: string]: unknown;
}

/** One request's options. */
export interface RequestOptions {
  readonly signal?: AbortSignal | undefined;
  /** Used as the error's correlation id when the server sends none. */
  readonly correlationId?: string | undefined;
  /** Overrides the transport's timeout (a snapshot download takes longer). */
  readonly timeoutMs?: number | undefined;
}

/**
 * HTTP to the Ferry server: bearer token, JSON bodies, a timeout and an abort signal per request,
 * and every failure as a {@link FerryError}: `network` (fetch or socket failed), `timeout`,
 * `aborted`, or the protocol's error code from the body with `status` = the HTTP status
 * (`bad_response` when the body is not a Ferry error).
 *
 * A request that fails because the server closed the kept-alive connection it was sent on
 * ({@link isClosedConnectionError}) is sent once more at once: every Ferry request is
 * idempotent, and the retry goes out on a fresh connection.
 */
export class Transport {
  readonly #options: TransportOptions;
  readonly #base: string;

  constructor(options: TransportOptions) {
    this.#options = options;
    this.#base = options.url.replace(/\/+$/, '');
  }

  /** POSTs JSON and returns the parsed JSON answer of a 2xx response (unvalidated). */
  async postJson(path: string, body: unknown, options: RequestOptions = {}): Promise<unknown> {
    return this.postJsonText(path, JSON.stringify(body), options);
  }

  /** {@link postJson} with a body already serialised. */
  async postJsonText(path: string, json: string, options: RequestOptions = {}): Promise<unknown> {
    const response = await this.#request(path, 'POST', json, options);
    return this.#readJson(response, options);
  }

  /**
   * POSTs a bundle: the parsed JSON of a 2xx answer, or the conflicts of a 409 `conflict`, come
   * back as a value ({@link BundleAnswer}); every other failure throws as for `postJsonText`.
   */
  async postBundle(
    path: string,
    json: string,
    options: RequestOptions = {},
  ): Promise<BundleAnswer> {
    let response: { response: Response; text: string };
    try {
      response = await this.#request(path, 'POST', json, options);
    } catch (error) {
      const conflicts = conflictsOf(error);
      if (conflicts === undefined) throw error;
      const head = ((error as FerryError).details as { head?: unknown }).head;
      return head === undefined
        ? { kind: 'conflicts', conflicts }
        : { kind: 'conflicts', conflicts, head };
    }
    return { kind: 'body', body: this.#readJson(response, options) };
  }

  /** GETs JSON. */
  async getJson(path: string, options: RequestOptions = {}): Promise<unknown> {
    const response = await this.#request(path, 'GET', undefined, options);
    return this.#readJson(response, options);
  }

  /**
   * GETs a streamed body. The returned `done()` must be called when reading ends (it clears the
   * timeout); errors while reading should go through {@link Transport.readError}.
   */
  async getStream(
    path: string,
    options: RequestOptions = {},
  ): Promise<{ response: Response; signal: AbortSignal; done: () => void }> {
    const { signal, timeout, done } = this.#signals(options);
    try {
      const response = await this.#send(path, 'GET', undefined, signal);
      if (!response.ok) {
        throw await errorFromResponse(response, options.correlationId);
      }
      return { response, signal, done };
    } catch (error) {
      done();
      throw classifyFetchError(error, options.signal, timeout);
    }
  }

  /** Classifies an error thrown while reading a streamed body. */
  readError(
    error: unknown,
    callerSignal: AbortSignal | undefined,
    signal: AbortSignal,
  ): FerryError {
    if (error instanceof FerryError) return error;
    if (callerSignal?.aborted)
      return new FerryError('aborted', 'the request was aborted', { cause: error });
    if (signal.aborted) return new FerryError('timeout', 'the request timed out', { cause: error });
    return new FerryError('network', `reading the response failed: ${messageOf(error)}`, {
      cause: error,
    });
  }

  async #request(
    path: string,
    method: string,
    body: string | undefined,
    options: RequestOptions,
  ): Promise<{ response: Response; text: string }> {
    const { signal, timeout, done } = this.#signals(options);
    try {
      const response = await this.#send(path, method, body, signal);
      if (!response.ok) throw await errorFromResponse(response, options.correlationId);
      return { response, text: await response.text() };
    } catch (error) {
      throw classifyFetchError(error, options.signal, timeout);
    } finally {
      done();
    }
  }

  async #send(
    path: string,
    method: string,
    body: string | undefined,
    signal: AbortSignal,
  ): Promise<Response> {
    const token = await fetchToken(this.#options.getToken);
    const headers: Partial<Record<ClientRequestHeader, string>> = {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
    };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.#options.schemaVersion !== undefined) {
      headers['x-ferry-schema'] = String(this.#options.schemaVersion);
    }
    if (this.#options.tables !== undefined)
      headers['x-ferry-tables'] = this.#options.tables.join(',');
    const url = this.#base + path;
    const init: RequestInit = { method, headers, ...(body !== undefined ? { body } : {}), signal };
    try {
      return await this.#options.fetch(url, init);
    } catch (error) {
      if (signal.aborted || !isClosedConnectionError(error)) throw error;
      // The pool reused a connection the server had closed (its keep-alive ran out while our
      // event loop was busy, say). Finding that out took the loop through the socket events,
      // the other closes that arrived with it included, so the one retry goes out on a fresh
      // connection. No timer here: injected clocks (tests, the simulator) own all waiting.
      signal.throwIfAborted();
      return await this.#options.fetch(url, init);
    }
  }

  #readJson(result: { response: Response; text: string }, options: RequestOptions): unknown {
    try {
      return JSON.parse(result.text) as unknown;
    } catch (error) {
      throw new FerryError('bad_response', 'the server answered with malformed JSON', {
        cause: error,
        status: result.response.status,
        details: detailsOf(result.response, options.correlationId, undefined),
      });
    }
  }

  #signals(options: RequestOptions): {
    signal: AbortSignal;
    timeout: AbortController;
    done: () => void;
  } {
    const timeout = new AbortController();
    const onTimeout = () => timeout.abort(new FerryError('timeout', 'the request timed out'));
    const delay = options.timeoutMs ?? this.#options.timeoutMs;
    const clock = this.#options.clock;
    let done: () => void;
    if (clock) {
      const id = clock.setTimer({ delay }, onTimeout);
      done = () => clock.clearTimer(id);
    } else {
      const timer = setTimeout(onTimeout, delay);
      done = () => clearTimeout(timer);
    }
    const signal = options.signal
      ? AbortSignal.any([options.signal, timeout.signal])
      : timeout.signal;
    return { signal, timeout, done };
  }
}

/** What the server answered to a pushed bundle, before validation (see `push-result.ts`). */
export type BundleAnswer =
  | { readonly kind: 'body'; readonly body: unknown }
  | {
      readonly kind: 'conflicts';
      readonly conflicts: readonly unknown[];
      /** The 409's `head`: the history point the conflicts were judged on. */
      readonly head?: unknown;
    };

/** The conflicts of a 409 `conflict` error, or undefined for any other error. */
function conflictsOf(error: unknown): readonly unknown[] | undefined {
  if (!(error instanceof FerryError) || error.code !== 'conflict' || error.status !== 409) {
    return undefined;
  }
  const conflicts = (error.details as { conflicts?: unknown } | undefined)?.conflicts;
  return Array.isArray(conflicts) ? conflicts : undefined;
}

/** Socket errors of a request that met a connection the other side had closed. */
const CLOSED_CONNECTION_CODES = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET']);

/**
 * Whether `error` (from `fetch`, before any answer) says the connection was closed by the
 * other side: reset, a broken pipe, or undici's "other side closed". A refused or timed-out
 * connection is not one: nothing was listening, and sending again at once would not help.
 */
export function isClosedConnectionError(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e instanceof Error && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && CLOSED_CONNECTION_CODES.has(code)) return true;
    e = e.cause;
  }
  return false;
}

/** The part of a zod schema {@link parseAnswer} uses. */
export interface AnswerSchema<T> {
  safeParse(value: unknown): { success: true; data: T } | { success: false; error: unknown };
}

/**
 * Calls the app's `getToken`; a failure (or something that is not a non-empty string) is
 * `unauthorized`, so the caller treats it like a refused token.
 */
export async function fetchToken(getToken: TransportOptions['getToken']): Promise<string> {
  let token: unknown;
  try {
    token = await getToken();
  } catch (error) {
    throw new FerryError('unauthorized', `getToken failed: ${messageOf(error)}`, { cause: error });
  }
  if (typeof token !== 'string' || token.length === 0) {
    throw new FerryError('unauthorized', 'getToken returned no token');
  }
  return token;
}

/** Validates a 2xx answer at the trust boundary; a mismatch is `bad_response`. */
export function parseAnswer<T>(schema: AnswerSchema<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new FerryError('bad_response', `the server's ${what} answer is malformed`, {
      cause: parsed.error,
    });
  }
  return parsed.data;
}

/** The {@link FerryError} of a non-2xx response. */
export async function errorFromResponse(
  response: Response,
  correlationId: string | undefined,
): Promise<FerryError> {
  let text = '';
  try {
    text = await response.text();
  } catch {
    // A body that cannot be read still has a status.
  }
  let body: unknown;
  try {
    body = JSON.parse(text) as unknown;
  } catch {
    body = undefined;
  }
  const parsed = ErrorBodySchema.safeParse(body);
  if (!parsed.success) {
    return new FerryError(
      'bad_response',
      `HTTP ${response.status}${text ? `: ${text.slice(0, 200)}` : ''}`,
      { status: response.status, details: detailsOf(response, correlationId, undefined) },
    );
  }
  const { error, conflicts, head } = parsed.data;
  const details = detailsOf(response, correlationId, error.details);
  return new FerryError(error.code as FerryError['code'], error.message, {
    status: response.status,
    details: conflicts ? { ...details, conflicts, ...(head ? { head } : {}) } : details,
  });
}

function detailsOf(
  response: Response,
  correlationId: string | undefined,
  serverDetails: unknown,
): RequestErrorDetails {
  const details: Record<string, unknown> =
    typeof serverDetails === 'object' && serverDetails !== null && !Array.isArray(serverDetails)
      ? { ...(serverDetails as Record<string, unknown>) }
      : serverDetails === undefined
        ? {}
        : { server: serverDetails };
  const retryAfter = parseRetryAfter(response.headers.get('retry-after'));
  if (retryAfter !== undefined) details['retryAfterSeconds'] = retryAfter;
  const requestId = response.headers.get('x-request-id') ?? correlationId;
  if (requestId) details['correlationId'] = requestId;
  return details;
}

/** `Retry-After` as seconds: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Number(trimmed);
  const at = Date.parse(trimmed);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

function classifyFetchError(
  error: unknown,
  callerSignal: AbortSignal | undefined,
  timeout: AbortController,
): FerryError {
  if (error instanceof FerryError && error.status !== undefined) return error;
  if (callerSignal?.aborted) {
    return new FerryError('aborted', 'the request was aborted', { cause: error });
  }
  if (timeout.signal.aborted) {
    return new FerryError('timeout', 'the request timed out', { cause: error });
  }
  if (error instanceof FerryError) return error;
  return new FerryError('network', `the request failed: ${messageOf(error)}`, { cause: error });
}

function messageOf(error: unknown): string {
  if (error instanceof Error) {
    const cause = (error as { cause?: unknown }).cause;
    return cause instanceof Error ? `${error.message} (${cause.message})` : error.message;
  }
  return String(error);
}

/**
 * The pure map from an error thrown by a sync cycle to a failure class, which decides what the
 * scheduler does next.
 *
 * @module
 */
import { isFerryError, type FerryErrorCode } from '@ferry/protocol';

/**
 * The failure classes, and what the scheduler does with each:
 *
 * | class | from | next |
 * |---|---|---|
 * | `transient` | `network`, `timeout`, `aborted`, 408 `request_timeout`, 502/503/504, a 410 that is neither of the two below (its body cut short or garbled: not an answer), `unavailable` without Retry-After, `store_unavailable` | exponential backoff |
 * | `server-error` | 500 `internal` and other 5xx, `bad_response`, `integrity_violation` and `derived_rebuild_failed` without an error status | backoff with the longer base |
 * | `rate-limited` | 429 `rate_limited`, 503 with Retry-After, 409 `schema_ahead` (the app is newer than the server: its changes wait, nothing is dead-lettered) | backoff, at least Retry-After |
 * | `auth` | 401 `unauthorized` | blocked-auth: refresh the token once |
 * | `rejected` | 403 `forbidden`, 413 `payload_too_large`, 422 `validation_failed` | no retry of the same content: the engine dead-letters those rows; retry the rest at once |
 * | `conflict` | 409 `conflict` | the resolver ran; retry at once (a few times, then blocked-conflict) |
 * | `bundle` | 409 `bundle_gap` / `stale_bundle` / `bundle_mismatch` | the engine renumbered its bundle or rotated its source id; retry at once |
 * | `history` | 410 `history_pruned` / `cursor_unknown` | hydrate |
 * | `fatal` | anything else: programmer errors, 400, 404, 426 `schema_too_old` (the app must be updated; its data and changes stay), 431 `headers_too_large`, non-Ferry errors | backoff with the longer base, and the error is shown |
 *
 * Codes without a class of their own (`bad_response` from a proxy, `not_found`) are classified
 * by their HTTP status when they carry one.
 */
export const FAILURE_CLASSES = [
  'transient',
  'server-error',
  'rate-limited',
  'auth',
  'rejected',
  'conflict',
  'bundle',
  'history',
  'fatal',
] as const;

/** One of {@link FAILURE_CLASSES}. */
export type FailureClass = (typeof FAILURE_CLASSES)[number];

/** A classified failure: what the scheduler and the status need to know about an error. */
export interface Failure {
  readonly class: FailureClass;
  /** The FerryError code, or null when the error was not a FerryError. */
  readonly code: FerryErrorCode | null;
  /** The HTTP status, when the error came from a response. */
  readonly status: number | null;
  readonly message: string;
  /** The server's Retry-After, in ms, when it sent one. */
  readonly retryAfterMs: number | null;
  /** The request's correlation id (the bundle id for a push), when known. */
  readonly correlationId: string | null;
}

/**
 * Classifies an error thrown by a sync cycle.
 *
 * The engine's contract: a failed cycle throws a `FerryError` with code `network`, `timeout`,
 * `aborted`, or the protocol error code of the response with `status` set to the HTTP status,
 * and `details: { retryAfterSeconds?: number, correlationId?: string }`. Anything else (a
 * `TypeError`, a string) is a programmer error: class `fatal`.
 *
 * @example
 * classifyFailure(new FerryError('unavailable', 'down', { details: { retryAfterSeconds: 5 } }))
 *   .class; // 'rate-limited'
 */
export function classifyFailure(error: unknown): Failure {
  if (!isFerryError(error)) {
    return {
      class: 'fatal',
      code: null,
      status: null,
      message: messageOf(error),
      retryAfterMs: null,
      correlationId: null,
    };
  }
  const details = isRecord(error.details) ? error.details : {};
  const retryAfterSeconds = details['retryAfterSeconds'];
  const retryAfterMs =
    typeof retryAfterSeconds === 'number' &&
    Number.isFinite(retryAfterSeconds) &&
    retryAfterSeconds >= 0
      ? Math.round(retryAfterSeconds * 1000)
      : null;
  const correlationId = details['correlationId'];
  return {
    class: classOf(error.code, error.status ?? null, retryAfterMs !== null),
    code: error.code,
    status: error.status ?? null,
    message: error.message,
    retryAfterMs,
    correlationId: typeof correlationId === 'string' ? correlationId : null,
  };
}

function classOf(
  code: FerryErrorCode,
  status: number | null,
  hasRetryAfter: boolean,
): FailureClass {
  switch (code) {
    case 'network':
    case 'timeout':
    case 'aborted':
    case 'request_timeout':
    case 'store_unavailable':
      return 'transient';
    case 'headers_too_large':
      return 'fatal';
    case 'unavailable':
      return hasRetryAfter ? 'rate-limited' : 'transient';
    case 'rate_limited':
    case 'schema_ahead':
      return 'rate-limited';
    case 'schema_too_old':
      return 'fatal';
    case 'internal':
      return 'server-error';
    case 'unauthorized':
      return 'auth';
    case 'forbidden':
    case 'validation_failed':
    case 'payload_too_large':
      return 'rejected';
    case 'conflict':
      return 'conflict';
    case 'bundle_gap':
    case 'stale_bundle':
    case 'bundle_mismatch':
      return 'bundle';
    case 'history_pruned':
    case 'cursor_unknown':
      return 'history';
    case 'bad_response':
    case 'integrity_violation':
    case 'derived_rebuild_failed':
      // A 502 from a proxy in front of the server arrives as a bad_response with its status;
      // a garbled answer with a success status is the server's fault.
      return status === null || status < 400
        ? 'server-error'
        : classOfStatus(status, hasRetryAfter);
    default:
      return status === null ? 'fatal' : classOfStatus(status, hasRetryAfter);
  }
}

/** For errors without a protocol code of their own: decide by HTTP status. */
function classOfStatus(status: number, hasRetryAfter: boolean): FailureClass {
  if (status === 429) return 'rate-limited';
  if (status === 502 || status === 503 || status === 504)
    return hasRetryAfter ? 'rate-limited' : 'transient';
  if (status >= 500 && status <= 599) return 'server-error';
  if (status === 401) return 'auth';
  if (status === 403 || status === 413 || status === 422) return 'rejected';
  // Only `history_pruned` and `cursor_unknown` say what happened to the history; any other 410
  // says nothing to act on (see `historyLossOf`), and the request is made again.
  if (status === 410) return 'transient';
  return 'fatal';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function messageOf(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  try {
    return `non-error thrown: ${String(error)}`;
  } catch {
    return 'non-error thrown';
  }
}

/**
 * The error-code table of protocol v1, shared by client and server, and the one error
 * type Ferry throws.
 *
 * @module
 */

/**
 * Every error code that can appear in an HTTP error body (`{"error": {"code", …}}`), with its
 * status. `not_found`, `method_not_allowed` and `internal` complete the protocol's table for
 * requests outside the contract; `request_timeout` (a request that missed the server's header,
 * body or idle deadline) and `headers_too_large` (a request head over the server's limit) are
 * answered by the HTTP listener before any route sees the request.
 */
export const PROTOCOL_ERRORS = {
  bad_request: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  bundle_gap: 409,
  stale_bundle: 409,
  bundle_mismatch: 409,
  schema_ahead: 409,
  history_pruned: 410,
  cursor_unknown: 410,
  payload_too_large: 413,
  validation_failed: 422,
  schema_too_old: 426,
  rate_limited: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
} as const;

/** A code that can appear in an HTTP error body. */
export type ProtocolErrorCode = keyof typeof PROTOCOL_ERRORS;

/** Every protocol error code, in table order. */
export const PROTOCOL_ERROR_CODES = Object.keys(PROTOCOL_ERRORS) as ProtocolErrorCode[];

/** HTTP status of a protocol error code. */
export function statusOfErrorCode(code: ProtocolErrorCode): number {
  return PROTOCOL_ERRORS[code];
}

/** True when `value` is one of the protocol's error codes. */
export function isProtocolErrorCode(value: unknown): value is ProtocolErrorCode {
  return typeof value === 'string' && Object.hasOwn(PROTOCOL_ERRORS, value);
}

/** Codes of `details.errors[].code` in a 422 `validation_failed` response. */
export const VALIDATION_ERROR_CODES = [
  'unknown_table',
  'unknown_column',
  'type_mismatch',
  'not_null',
  'too_long',
  'owner_mismatch',
  'fk_violation',
  'duplicate_change',
  'append_only',
  'temporary_key',
] as const;

/** One code of {@link VALIDATION_ERROR_CODES}. */
export type ValidationErrorCode = (typeof VALIDATION_ERROR_CODES)[number];

/**
 * Codes that never cross the wire: raised locally by the client, the server's embedding API or
 * the schema declaration.
 */
export const LOCAL_ERROR_CODES = [
  'invalid_schema',
  'network',
  'timeout',
  'aborted',
  'closed',
  'bad_response',
  'integrity_violation',
  'derived_rebuild_failed',
  'store_unavailable',
  'invalid_argument',
  'not_supported',
  // The PostgreSQL store's `adopt`: the existing tables do not fit the schema (details.mismatches).
  'adopt_mismatch',
] as const;

/** One code of {@link LOCAL_ERROR_CODES}. */
export type LocalErrorCode = (typeof LOCAL_ERROR_CODES)[number];

/** Any code a {@link FerryError} can carry. */
export type FerryErrorCode = ProtocolErrorCode | LocalErrorCode;

/** Options of {@link FerryError}. */
export interface FerryErrorOptions {
  /** The underlying error, kept as the native `cause`. */
  cause?: unknown;
  /** Machine-readable details, as sent in `error.details`. */
  details?: unknown;
  /** HTTP status when the error came from (or goes to) an HTTP response. */
  status?: number;
}

/**
 * The one error type of Ferry: a machine-readable `code` plus a human message.
 *
 * Expected outcomes (a conflict, a rejected row, a pruned history) are values in result unions;
 * a `FerryError` is thrown for programmer errors, broken infrastructure, or when an API has no
 * better way to report.
 *
 * @example
 * throw new FerryError('history_pruned', 'pull cursor 3 is older than retained history');
 */
export class FerryError extends Error {
  readonly code: FerryErrorCode;
  readonly details: unknown;
  readonly status: number | undefined;

  constructor(code: FerryErrorCode, message: string, options: FerryErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FerryError';
    this.code = code;
    this.details = options.details;
    this.status = options.status ?? (isProtocolErrorCode(code) ? PROTOCOL_ERRORS[code] : undefined);
  }
}

/** True when `error` is a {@link FerryError}, optionally with the given code. */
export function isFerryError(error: unknown, code?: FerryErrorCode): error is FerryError {
  return error instanceof FerryError && (code === undefined || error.code === code);
}

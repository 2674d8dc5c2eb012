import {
  FerryError,
  isProtocolErrorCode,
  statusOfErrorCode,
  type Conflict,
  type HistoryPoint,
  type ProtocolErrorCode,
} from '@ferry/protocol';
import { conflictErrorBody, errorBody } from '../core/wire-json.js';

const JSON_HEADERS = { 'content-type': 'application/json; charset=utf-8' } as const;

/** A 200 (or `status`) answer with a JSON text body. */
export function jsonTextResponse(text: string, status = 200): Response {
  return new Response(text, { status, headers: JSON_HEADERS });
}

/** An error answer `{"error": {code, message, details?}}` with the code's status. */
export function errorResponse(
  code: ProtocolErrorCode,
  message: string,
  details?: unknown,
  headers?: Record<string, string>,
): Response {
  return new Response(JSON.stringify(errorBody(code, message, details)), {
    status: statusOfErrorCode(code),
    headers: { ...JSON_HEADERS, ...headers },
  });
}

/** The 409 answer of a conflicting push. */
export function conflictResponse(
  conflicts: readonly Conflict[],
  head: HistoryPoint | null,
): Response {
  return new Response(JSON.stringify(conflictErrorBody(conflicts, head)), {
    status: 409,
    headers: JSON_HEADERS,
  });
}

/**
 * The answer for a thrown error: a {@link FerryError} with a protocol code keeps its code and
 * details; `store_unavailable` (the database does not answer) is a 503 `unavailable` with
 * `Retry-After`, without the store's own message (it may name hosts); anything else is a 500
 * that reveals nothing.
 */
export function responseForError(error: unknown, retryAfterSeconds = 5): Response {
  if (error instanceof FerryError && error.code === 'store_unavailable') {
    return errorResponse('unavailable', 'the store is unavailable; retry later', undefined, {
      'retry-after': String(retryAfterSeconds),
    });
  }
  if (error instanceof FerryError && isProtocolErrorCode(error.code)) {
    // The protocol promises a Retry-After on every 503 and 429.
    const retry =
      error.code === 'unavailable' || error.code === 'rate_limited'
        ? { 'retry-after': String(retryAfterSeconds) }
        : undefined;
    return errorResponse(error.code, error.message, error.details, retry);
  }
  return errorResponse('internal', 'internal error');
}

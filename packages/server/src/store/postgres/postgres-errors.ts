import { FerryError } from '@ferry/protocol';

/** SQLSTATEs and socket errors that mean "the database is not reachable right now". */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  '57P01', // admin_shutdown (pg_terminate_backend, fast shutdown)
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down, recovering)
  '53300', // too_many_connections
  '08000',
  '08001',
  '08003',
  '08004',
  '08006',
]);

const CONNECTION_MESSAGES =
  /connection terminated|not queryable|timeout exceeded when trying to connect|client was closed|connection (?:ended|closed)|terminating connection|server closed the connection/i;

/** SQLSTATEs after which a push may simply run again: nothing was committed. */
const RETRYABLE_CODES = new Set([
  '40001', // serialization_failure (also raised for a stale push decision)
  '40P01', // deadlock_detected
  '23503', // foreign_key_violation: a referenced row went away under a concurrent commit
]);

/** True when `error` means the database (or the connection to it) is gone. */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string' && CONNECTION_CODES.has(code)) return true;
  return CONNECTION_MESSAGES.test(error.message);
}

/** True when a failed write transaction may be retried as a whole. */
export function isRetryable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && RETRYABLE_CODES.has(code);
}

/** The error a store throws while PostgreSQL is unreachable; the handler answers 503. */
export function storeUnavailable(cause: unknown): FerryError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new FerryError('store_unavailable', `PostgreSQL is unavailable: ${reason}`, { cause });
}

/** Maps connection failures to `store_unavailable` and leaves every other error as it is. */
export function mapPgError(error: unknown): unknown {
  if (error instanceof FerryError) return error;
  return isConnectionError(error) ? storeUnavailable(error) : error;
}

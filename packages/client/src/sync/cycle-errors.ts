import { FerryError } from '@ferry/protocol';

/** The error of a cycle stopped by `signal`: its reason when that is a FerryError, else `aborted`. */
export function abortedError(signal: AbortSignal): FerryError {
  const reason: unknown = signal.reason;
  if (reason instanceof FerryError) return reason;
  return new FerryError('aborted', 'the sync cycle was aborted', { cause: reason });
}

/**
 * Any error a cycle caught, as a FerryError: an abort of `signal` is {@link abortedError}, a
 * SQLite failure `store_unavailable`, anything else `internal`.
 */
export function asFerryError(error: unknown, signal: AbortSignal): FerryError {
  if (error instanceof FerryError) return error;
  if (signal.aborted) return abortedError(signal);
  const message = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) {
    return new FerryError('store_unavailable', `the local database failed: ${message}`, {
      cause: error,
    });
  }
  return new FerryError('internal', message, { cause: error });
}

/** The server no longer has the history after our checkpoint: only a snapshot helps. */
export function isHistoryLost(error: FerryError): boolean {
  return error.code === 'history_pruned' || error.code === 'cursor_unknown';
}

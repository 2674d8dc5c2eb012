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

/**
 * What a refusal says of the history the file follows. Pure.
 *
 * | error | meaning |
 * |---|---|
 * | 410 `history_pruned` | `pruned`: the same history, but its bundles after our checkpoint are gone |
 * | 410 `cursor_unknown` | `lost`: the server does not have our history (a restore, another database) |
 * | any other 410 (a body cut short or garbled on the way) | `maybe`: either, it cannot say which |
 * | anything else | `null` |
 *
 * All need a snapshot. After `lost`, and after `maybe` (keeping after a loss can lose a row;
 * forgetting after a mere prune costs at most a conflict), what the file knew of the old
 * history (the commit of the bundle in flight, tombstones) goes before it (see
 * `forgetHistory`): row versions of one history say nothing of another's, and a tombstone kept
 * from it hides the row the server has at a lower version.
 */
export function historyLossOf(error: FerryError): 'pruned' | 'lost' | 'maybe' | null {
  if (error.code === 'history_pruned') return 'pruned';
  if (error.code === 'cursor_unknown') return 'lost';
  if (error.status === 410) return 'maybe';
  return null;
}

/** The server no longer has the history after our checkpoint: only a snapshot helps. */
export function isHistoryLost(error: FerryError): boolean {
  return historyLossOf(error) !== null;
}

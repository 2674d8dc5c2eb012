import { FerryError, isFerryError } from '@ferry/protocol';
import type { IntegrityViolation } from '../apply/integrity-gate.js';
import type { EngineEvent } from '../status/engine-event.js';

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
 * | 410 `cursor_unknown` with `details.point` `bases` | `bases`: the checkpoint is on the server's history, but the point the push's `basesAt` named is not (see `local/bases-point.ts`) |
 * | anything else, a 410 whose body was cut short or garbled on the way included | `null` |
 *
 * `pruned` and `lost` need a snapshot; `bases` only that the versions learned above the
 * checkpoint go (no snapshot: the checkpoint's history is the server's). After `lost`, what the file knew of the old history (the commit of the
 * bundle in flight, tombstones, the versions its changes were made on) goes first (see
 * `forgetHistory`): row versions of one history say nothing of another's. A 410 that cannot be
 * read says neither, and each guess loses something (kept versions alias the new history's: an
 * edit on an old live version equal to a new tombstone's re-creates the row; dropped ones turn
 * every pending change after a mere prune into a conflict; kept tombstones hide rows): it is a
 * transport failure like a cut 200, and the request is made again to read the server's answer,
 * which a 410 never commits anything to change.
 */
export function historyLossOf(error: FerryError): 'pruned' | 'lost' | 'bases' | null {
  if (error.code === 'history_pruned') return 'pruned';
  if (error.code === 'cursor_unknown') {
    const point = (error.details as { point?: unknown } | undefined)?.point;
    return point === 'bases' ? 'bases' : 'lost';
  }
  return null;
}

/** The server no longer has the history after our checkpoint: only a snapshot helps. */
export function isHistoryLost(error: FerryError): boolean {
  const loss = historyLossOf(error);
  return loss === 'pruned' || loss === 'lost';
}

/**
 * The event of a page or snapshot the integrity gate refused, when `error` is the gate's
 * `integrity_violation` (its violations go into `status.integrity`); null for any other error.
 */
export function integrityRefusalOf(error: unknown, at: number): EngineEvent | null {
  if (!isFerryError(error, 'integrity_violation')) return null;
  const violations = (error.details as { violations: IntegrityViolation[] }).violations;
  return { type: 'integrity-refused', violations, at };
}

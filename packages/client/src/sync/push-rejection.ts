import {
  BundleErrorDetailsSchema,
  ForbiddenDetailsSchema,
  ValidationDetailsSchema,
  type FerryError,
} from '@ferry/protocol';
import type { BundleLimitsState, EngineSettings, LocalParts } from '../engine-context.js';
import { renumberFrozenBundle, type FrozenBundle, type FrozenChange } from '../local/metadata.js';
import { unfreezeChange } from '../outbox/freeze-bundle.js';
import { bundleRef, type Recorder } from '../status/engine-event.js';
import { historyLossOf, isHistoryLost } from './cycle-errors.js';
import { forgetBasesPoint } from '../local/bases-point.js';
import { deadLetterChanges, type RejectedChange } from './dead-letters.js';
import { rotateSource } from './rotate-source.js';

/** What to do about a refused push. */
export type RejectionAction =
  /** Move these changes to the dead letters; the rest of the bundle is retried. */
  | { readonly kind: 'dead-letter'; readonly rejected: readonly RejectedChange[] }
  /** The server lost bundles we believed committed: send ours again under this id. */
  | { readonly kind: 'renumber'; readonly sourceBundleId: number }
  /** Too large: keep this many changes in the bundle, put the rest back in the outbox. */
  | { readonly kind: 'shrink'; readonly maxChanges: number }
  /** The server's history after our checkpoint is gone: hydrate. */
  | { readonly kind: 'hydrate' }
  /** The server does not have the point our bases were learned at: forget them, push again. */
  | { readonly kind: 'forget-bases' }
  /** Another install uses our source id, or the server is ahead of the file: rotate it. */
  | { readonly kind: 'rotate'; readonly reason: 'bundle_mismatch' | 'stale_bundle' }
  /** Not an expected outcome: the cycle fails with the error. */
  | { readonly kind: 'fail' };

/** How many times a `bundle_gap` is answered by renumbering in one cycle. */
const MAX_GAP_RENUMBERS = 2;

/**
 * Decides how a refused push is handled. Pure.
 *
 * | error | action |
 * |---|---|
 * | 422 `validation_failed` naming rows | dead-letter those rows |
 * | 403 `forbidden` naming rows (`details.changes`) | dead-letter those rows (a row the server's hooks refused with their `hookCode` and `message`) |
 * | `bundle_gap` (at most twice per cycle) | renumber to `lastCommitted + 1` |
 * | 413 `payload_too_large`, or a 413 without a Ferry body (a proxy's smaller limit), one change | dead-letter it |
 * | the same, more | shrink to half |
 * | 410 `history_pruned`, `cursor_unknown` (not an unreadable 410: see `historyLossOf`) | hydrate |
 * | 410 `cursor_unknown` for the push's `basesAt` (`details.point` `bases`) | forget the versions learned above the checkpoint, push again |
 * | 409 `bundle_mismatch` (another install committed under our id), `stale_bundle` (the server has later bundles of our source than the file) | rotate the source id (and hydrate) |
 * | anything else, or details that do not parse | fail |
 */
export function decideRejection(
  error: FerryError,
  bundle: { readonly changes: readonly Pick<FrozenChange, 'tbl' | 'pk'>[] },
  gapRenumbers: number,
): RejectionAction {
  if (historyLossOf(error) === 'bases') return { kind: 'forget-bases' };
  if (isHistoryLost(error)) return { kind: 'hydrate' };
  // A 413 means too large whoever says it: a proxy in front of the server with a smaller body
  // limit answers with its own page, and only a smaller bundle gets through.
  const code =
    error.code === 'bad_response' && error.status === 413 ? 'payload_too_large' : error.code;
  switch (code) {
    case 'validation_failed': {
      const details = ValidationDetailsSchema.safeParse(error.details);
      if (!details.success || details.data.errors.length === 0) return { kind: 'fail' };
      return { kind: 'dead-letter', rejected: details.data.errors };
    }
    case 'forbidden': {
      const details = ForbiddenDetailsSchema.safeParse(error.details);
      if (!details.success || details.data.changes.length === 0) return { kind: 'fail' };
      return {
        kind: 'dead-letter',
        // A change the server's own rules refused carries their code and message.
        rejected: details.data.changes.map(({ index, table, pk, hookCode, message }) => ({
          index,
          table,
          pk,
          code: hookCode ?? 'forbidden',
          message: message ?? error.message,
        })),
      };
    }
    case 'bundle_gap': {
      const details = BundleErrorDetailsSchema.safeParse(error.details);
      if (!details.success || gapRenumbers >= MAX_GAP_RENUMBERS) return { kind: 'fail' };
      // The server lost bundles we believed committed (restored from a backup): our bundle
      // was never committed there, so it goes out under the next id the server expects.
      return { kind: 'renumber', sourceBundleId: details.data.lastCommitted + 1 };
    }
    case 'payload_too_large':
      if (bundle.changes.length <= 1) {
        return {
          kind: 'dead-letter',
          rejected: bundle.changes.map((c, index) => ({
            index,
            table: c.tbl,
            pk: c.pk,
            code: 'payload_too_large',
            message: error.message,
          })),
        };
      }
      return { kind: 'shrink', maxChanges: Math.max(1, Math.floor(bundle.changes.length / 2)) };
    case 'bundle_mismatch':
    case 'stale_bundle':
      return { kind: 'rotate', reason: code };
    default:
      return { kind: 'fail' };
  }
}

/**
 * Handles a refused push that is an expected outcome (see {@link decideRejection}): dead-letters
 * rows named by a 422 or a 403, renumbers after a `bundle_gap`, shrinks after a 413. Returns
 * `'gap'` after a renumbering, `'history'` when only a hydration helps, true when handled (the
 * bundle is retried at once), false for anything else.
 */
export async function handleRejection(
  deps: LocalParts & {
    readonly settings: Pick<EngineSettings, 'createSourceId'>;
    readonly limits: BundleLimitsState;
    readonly recorder: Recorder;
  },
  error: FerryError,
  bundle: FrozenBundle,
  gapRenumbers: number,
): Promise<boolean | 'gap' | 'history'> {
  const { db, ctx, recorder } = deps;
  const action = decideRejection(error, bundle, gapRenumbers);
  switch (action.kind) {
    case 'dead-letter': {
      const status = error.status ?? null;
      const letters = await db.transaction((tx) =>
        deadLetterChanges(tx, ctx, bundle, action.rejected, status),
      );
      recorder.record({
        type: 'dead-lettered',
        ref: bundleRef(ctx.sourceId, bundle),
        letters,
        status,
      });
      return true;
    }
    case 'renumber':
      // The server's numbering is the one to follow: the bundle in flight takes the next id it
      // expects, and so does the next bundle frozen if this one ends without a commit (all its
      // changes settled by a conflict, say), instead of meeting the same gap again.
      await db.transaction((tx) => renumberFrozenBundle(tx, action.sourceBundleId));
      return 'gap';
    case 'shrink': {
      deps.limits.maxChanges = action.maxChanges;
      const rest = bundle.changes.slice(action.maxChanges);
      await db.transaction(async (tx) => {
        for (const change of rest) await unfreezeChange(tx, change);
      });
      return true;
    }
    case 'hydrate':
      return 'history';
    case 'forget-bases':
      await db.transaction((tx) => forgetBasesPoint(tx));
      recorder.record({ type: 'bases-forgotten', ref: bundleRef(ctx.sourceId, bundle) });
      return true;
    case 'rotate':
      recorder.record(...(await rotateSource(deps, action.reason)));
      return true;
    case 'fail':
      return false;
  }
}

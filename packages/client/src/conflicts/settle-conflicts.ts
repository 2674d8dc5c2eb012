import { FerryError, type Conflict } from '@ferry/protocol';
import { readSettledRowFacts, writeSettledRow } from '../apply/apply-bundles.js';
import type { EngineContext } from '../engine-context.js';
import { putManualConflict } from '../local/conflict-store.js';
import {
  clearFrozenBundle,
  countFrozenBundleAttempt,
  deleteFrozenChange,
  insertFrozenChange,
  setApplying,
  type Executor,
  type FrozenBundle,
} from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { journalSettledConflicts, type SettledConflictDraft } from '../local/settled-journal.js';
import type { ConflictReport, SettledConflict } from '../types.js';
import { decideConflict } from './decide-conflict.js';
import type { ResolverLookup } from './resolver-lookup.js';

/** How {@link settleConflicts} settles: the resolvers and the bounds. */
export interface SettleSettings {
  readonly resolverOf: ResolverLookup;
  /** Rebases allowed per row before its conflict becomes manual. */
  readonly maxAttempts: number;
  /** Entries the journal of settled conflicts keeps. */
  readonly journalLimit: number;
}

/** What {@link settleConflicts} did. */
export interface SettledConflicts {
  /** One per conflicting row. */
  readonly reports: ConflictReport[];
  /** The values the settlement dropped, as journaled (see `lostValuesOf`). */
  readonly journaled: SettledConflict[];
}

/**
 * Settles a 409 `conflict` inside the caller's transaction: each conflicting change of the
 * frozen bundle is decided by {@link decideConflict} (adopt the server's row, rebase, or leave it
 * to the app) on what the file holds of its row, and the decision is written. Non-conflicting
 * changes stay as they are; the bundle keeps its `sourceBundleId` and is cleared when no change
 * is left in it.
 *
 * Every value an `adopt-server` or `rebase` drops, of either side, goes into the journal of
 * settled conflicts in this same transaction, which also prunes it to `journalLimit` entries: a
 * settlement and its journal entries commit together or not at all.
 */
export async function settleConflicts(
  tx: Executor,
  ctx: EngineContext,
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
  settings: SettleSettings,
): Promise<SettledConflicts> {
  // Writes made while the bundle was in flight may still be in the capture log: fold them
  // first, or a settled row would overwrite them as if there were no pending edit.
  await foldCaptureLog(tx, ctx.now());
  await setApplying(tx, true);
  const reports: ConflictReport[] = [];
  const lost: SettledConflictDraft[] = [];
  const at = ctx.now();
  let remaining = bundle.changes.length;
  for (const conflict of conflicts) {
    const change = bundle.changes[conflict.index];
    const codec = change && ctx.codecs.get(change.tbl);
    if (
      !change ||
      !codec ||
      change.tbl !== conflict.table ||
      String(change.pk) !== String(conflict.pk)
    ) {
      throw new FerryError(
        'bad_response',
        `conflict ${conflict.index} (${conflict.table} ${String(conflict.pk)}) does not name a change of the bundle`,
      );
    }
    const pk = codec.encodePk(change.pk);
    const decision = decideConflict({
      codec,
      change,
      conflict,
      facts: await readSettledRowFacts(tx, codec, pk),
      resolver: settings.resolverOf(change.tbl),
      maxAttempts: settings.maxAttempts,
      sourceBundleId: bundle.sourceBundleId,
      at,
    });
    await deleteFrozenChange(tx, change.ord);
    if (decision.frozen.kind === 'replace') await insertFrozenChange(tx, decision.frozen.change);
    else remaining--;
    await writeSettledRow(tx, codec, pk, decision);
    if (decision.manual) await putManualConflict(tx, change, decision.manual);
    reports.push(decision.report);
    lost.push(...decision.lost);
  }
  if (remaining === 0) await clearFrozenBundle(tx);
  else await countFrozenBundleAttempt(tx);
  await setApplying(tx, false);
  const journaled = await journalSettledConflicts(tx, lost, settings.journalLimit);
  return { reports, journaled };
}

import type { BundleLimitsState, LocalParts } from '../engine-context.js';
import {
  frozenBundleCommittedByCheckpoint,
  readFrozenBundle,
  readState,
  type FrozenBundle,
} from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { freezeNextBundle } from '../outbox/freeze-bundle.js';
import { asPushed } from '../local/remap-keys.js';
import { bundleRef, type EngineEvent } from '../status/engine-event.js';
import { settleLateAck } from './push-acknowledgement.js';

/**
 * The bundle to push: the one in flight (resent exactly as it was frozen), else a newly frozen
 * one, stored before anything is sent; null when nothing is pushable. Folds the capture log
 * first, in the same transaction as the freeze. Its event: `bundle-frozen` for a new bundle.
 */
export async function prepareBundle(
  deps: LocalParts & { readonly limits: Readonly<BundleLimitsState> },
): Promise<{ bundle: FrozenBundle | null; events: EngineEvent[] }> {
  const { db, ctx } = deps;
  // A bundle the server committed at or below the checkpoint (its rows came with a snapshot,
  // and the settling after the answer was cut short by a crash) is done: settle it now, or it
  // would hold the outbox back for good, since no pull brings it again.
  if (await frozenBundleCommittedByCheckpoint(db)) await settleLateAck(deps);
  const result = await db.transaction(async (tx) => {
    await foldCaptureLog(tx, ctx.now());
    const frozen = await readFrozenBundle(tx);
    // Sent again as it was pushed: keys an answer to it assigned go back to temporary ones.
    if (frozen) return { bundle: await asPushed(tx, ctx.schema, frozen), fresh: false };
    const next = ((await readState(tx, 'next_source_bundle_id')) as number | null) ?? 1;
    const { maxChanges, maxBytes } = deps.limits;
    const freeze = await freezeNextBundle(tx, ctx, { maxChanges, maxBytes }, next);
    return { bundle: freeze.bundle, fresh: freeze.bundle !== null };
  });
  if (!result.fresh) return { bundle: result.bundle, events: [] };
  const bundle = result.bundle!;
  await ctx.hook('after-freeze-before-send');
  return {
    bundle,
    events: [{ type: 'bundle-frozen', bundle, ref: bundleRef(ctx.sourceId, bundle) }],
  };
}

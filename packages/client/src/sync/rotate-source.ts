import type { EngineSettings, LocalParts } from '../engine-context.js';
import { moveFrozenBundleToSource, readFrozenBundleHead, writeState } from '../local/metadata.js';
import { settleInsertsOnRotation } from '../local/cancelled-inserts.js';
import type { EngineEvent } from '../status/engine-event.js';

/**
 * Why the source id is rotated:
 * - `bundle_mismatch`: the server committed another bundle under our `(sourceId, sourceBundleId)`
 *   (another install uses our source id: a copied file);
 * - `foreign_bundle`: a pull brought a bundle of our source id that is not ours (the same);
 * - `stale_bundle`: the server has later bundles of our source than the file knows (the file was
 *   restored from an old backup of itself, or copied from an install that went on).
 */
export type SourceRotationReason = 'bundle_mismatch' | 'foreign_bundle' | 'stale_bundle';

/**
 * Rotates the client's source id, because another install shares it or the file fell behind its
 * own source: a `(sourceId, sourceBundleId)` pair must never name two different bundles (seed
 * 003), so nothing more goes out under the old id. In one transaction:
 * 1. a fresh source id (`settings.createSourceId`) is the file's;
 * 2. the bundle in flight, unless the server said it committed, becomes bundle 1 of the new
 *    source, with its changes and bases as they are (the server never took them under the old
 *    id, or cannot tell us so); a bundle the server said committed stays under the old id and
 *    is settled by the hydration below;
 * 3. the next bundle of the new source is 1 (2 once a renumbered bundle is acknowledged);
 * 4. the file is marked for a hydration, which keeps every local change on top: rows may have
 *    moved on the server under the old id in ways this file never saw;
 * 5. inserts the file undid since its last commit (`ferry_cancelled`) get their delete after
 *    all, and pending inserts become changes of rows that may be on the server
 *    (`settleInsertsOnRotation`): the install that shared the id (a copy, or this file's own past
 *    before a restore) may have pushed them, and the app's delete must reach the server then (a
 *    delete of a row the server never had is no change there).
 * Every pending change is kept and pushed under the new id; nothing is dropped.
 */
export async function rotateSource(
  deps: LocalParts & { readonly settings: Pick<EngineSettings, 'createSourceId'> },
  reason: SourceRotationReason,
): Promise<EngineEvent[]> {
  const { db, ctx } = deps;
  const previous = ctx.sourceId;
  const next = deps.settings.createSourceId().toLowerCase();
  const frozen = await db.transaction(async (tx) => {
    await writeState(tx, 'source_id', next);
    await writeState(tx, 'next_source_bundle_id', 1);
    await writeState(tx, 'needs_hydration', 1);
    await moveFrozenBundleToSource(tx, next);
    await settleInsertsOnRotation(tx, ctx.schema, ctx.now());
    return readFrozenBundleHead(tx);
  });
  ctx.sourceId = next;
  return [{ type: 'source-rotated', previous, next, reason, frozen }];
}

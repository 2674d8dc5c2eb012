import { assignedKeysOf, tablesOfRemap } from '../local/remap-keys.js';
import type { Bundle, PullResponse } from '@ferry/protocol';
import type { EngineSettings, LocalParts } from '../engine-context.js';
import {
  forgetLostCommit,
  forgetTombstonesThrough,
  readFrozenBundleHead,
  readState,
  type FrozenBundle,
  type FrozenBundleHead,
} from '../local/metadata.js';
import type { EngineEvent } from '../status/engine-event.js';
import { rotateSource } from './rotate-source.js';
import { settleBasesPointByPull } from '../local/bases-point.js';
import { applyBundles } from '../apply/apply-bundles.js';

/**
 * Applies a page of pulled bundles in one local transaction (foreign keys off) together with the
 * new checkpoint, acknowledging our bundle in flight when it comes by. Its events: `pulled`, and
 * `source-rotated` (below). A page the integrity gate refuses is rolled back and its
 * `integrity_violation` thrown (the cycle records its violations). A page
 * with a bundle of our source id that is not ours rotates the source id (see `ownershipOf`).
 * What the server said with the page (absent when the page is a push answer): `stableBundleSeq`,
 * its horizon, lets a commit the server no longer has be forgotten (see
 * {@link commitPastHorizon}); `prunedThrough`, its pruned floor, the tombstones it purged there.
 * `sent`: our bundle as this round trip sent it and the server committed it (its digest is then
 * taken from memory when a pulled bundle names it).
 */
export async function applyPull(
  deps: LocalParts & { readonly settings: Pick<EngineSettings, 'createSourceId'> },
  bundles: readonly Bundle[],
  page?: Pick<PullResponse, 'stableBundleSeq' | 'prunedThrough'>,
  sent?: FrozenBundle,
): Promise<EngineEvent[]> {
  const { db, ctx } = deps;
  const result = await db.transaction(
    async (tx) => {
      // Before the page: what it teaches is on the server's history, whatever the point says.
      await settleBasesPointByPull(tx, bundles);
      const frozen = await readFrozenBundleHead(tx);
      const checkpoint = ((await readState(tx, 'checkpoint')) as number | null) ?? 0;
      const applied = await applyBundles(tx, ctx, bundles, frozen, checkpoint, sent);
      if (applied.acked === null && commitPastHorizon(frozen, page?.stableBundleSeq)) {
        await forgetLostCommit(tx, checkpoint);
      }
      if (page?.prunedThrough !== undefined) await forgetTombstonesThrough(tx, page.prunedThrough);
      return applied;
    },
    { foreignKeysOff: true },
  );
  // Another install commits under our source id: nothing more goes out under it.
  const rotated = result.foreign ? await rotateSource(deps, 'foreign_bundle') : [];
  const tables = new Set<string>();
  for (const bundle of bundles) for (const row of bundle.rows) tables.add(row.table);
  // A row that took its server key moved references to it in other tables too.
  for (const bundle of bundles) {
    for (const name of tablesOfRemap(ctx.schema, assignedKeysOf(bundle.rows))) tables.add(name);
  }
  for (const name of result.rebuilt) tables.add(name);
  return [
    ...rotated,
    {
      type: 'pulled',
      bundles: result.bundles,
      rows: result.applied,
      checkpoint: result.checkpoint,
      firstBundleSeq: bundles[0]?.bundleSeq ?? null,
      tables: [...tables],
      acked: result.acked !== null,
      warnings: result.warnings,
      at: ctx.now(),
    },
  ];
}

/**
 * Whether the server's answer that our bundle in flight committed as `committedSeq` came from a
 * history it no longer has: its stable horizon is below that seq, so no pull will ever bring the
 * bundle (a server restored from a backup taken before the commit, with fewer bundles since).
 * The commit is then forgotten and the bundle sent again: a server that has it after all (a
 * horizon that had not caught up yet) answers the replay with the same seq, one that lost it
 * commits it anew. Waiting instead leaves the device stuck with its bundle in flight.
 */
export function commitPastHorizon(
  frozen: Pick<FrozenBundleHead, 'committedSeq'> | null,
  stableBundleSeq: number | undefined,
): boolean {
  return (
    frozen !== null &&
    frozen.committedSeq !== null &&
    stableBundleSeq !== undefined &&
    stableBundleSeq < frozen.committedSeq
  );
}

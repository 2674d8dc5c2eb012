import { isFerryError, type Bundle } from '@ferry/protocol';
import type { ClientCore } from '../client-core.js';
import {
  forgetLostCommit,
  readFrozenBundleHead,
  readState,
  type FrozenBundle,
  type FrozenBundleHead,
} from '../local/metadata.js';
import type { CycleReport } from './cycle-report.js';
import { rotateSource } from './rotate-source.js';
import { settleBasesPointByPull } from '../local/bases-point.js';
import { applyBundles } from '../apply/apply-bundles.js';
import type { IntegrityViolation } from '../apply/integrity-gate.js';

/**
 * Applies a page of pulled bundles in one local transaction (foreign keys off) together with the
 * new checkpoint, acknowledging our bundle in flight when it comes by; then counts, logs, shows
 * and announces (`remote-change`) what changed. A page the integrity gate refuses is rolled
 * back and its violations are put in `status.integrity` before the error is rethrown. A page
 * with a bundle of our source id that is not ours rotates the source id (see `ownershipOf`).
 * `stableBundleSeq`, the horizon the server gave with the page (absent when the page is a push
 * answer), lets a commit the server no longer has be forgotten (see {@link commitPastHorizon}).
 * `sent`: our bundle as this round trip sent it and the server committed it (its digest is then
 * taken from memory when a pulled bundle names it).
 */
export async function applyPull(
  core: ClientCore,
  bundles: readonly Bundle[],
  report: CycleReport,
  stableBundleSeq?: number,
  sent?: FrozenBundle,
): Promise<void> {
  const { db, ctx, observer } = core;
  try {
    const result = await db.transaction(
      async (tx) => {
        // Before the page: what it teaches is on the server's history, whatever the point says.
        await settleBasesPointByPull(tx, bundles);
        const frozen = await readFrozenBundleHead(tx);
        const checkpoint = ((await readState(tx, 'checkpoint')) as number | null) ?? 0;
        const applied = await applyBundles(tx, ctx, bundles, frozen, checkpoint, sent);
        if (applied.acked === null && commitPastHorizon(frozen, stableBundleSeq)) {
          await forgetLostCommit(tx, checkpoint);
        }
        return applied;
      },
      { foreignKeysOff: true },
    );
    // Another install commits under our source id: nothing more goes out under it.
    if (result.foreign) await rotateSource(core, 'foreign_bundle');
    report.pulled += result.applied;
    report.bundlesPulled += result.bundles;
    report.warnings.push(...result.warnings);
    core.metrics.rowsPulled += result.applied;
    observer.setStatus({
      lastPullAt: ctx.now(),
      checkpoint: result.checkpoint,
      integrity: null,
      ...(result.acked ? { inFlight: null } : {}),
    });
    if (result.bundles > 0) {
      observer.log('debug', 'pulled', `applied ${result.bundles} bundle(s)`, {
        bundles: result.bundles,
        rows: result.applied,
        checkpoint: result.checkpoint,
        firstBundleSeq: bundles[0]?.bundleSeq ?? null,
      });
    }
    if (result.applied > 0) {
      const tables = new Set<string>();
      for (const bundle of bundles) for (const row of bundle.rows) tables.add(row.table);
      observer.emit({
        type: 'remote-change',
        tables: [...tables],
        rows: result.applied,
        checkpoint: result.checkpoint,
      });
    }
  } catch (error) {
    recordIntegrityFailure(core, error);
    throw error;
  }
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

/** When `error` is the integrity gate's, puts its violations in `status.integrity`. */
export function recordIntegrityFailure(core: ClientCore, error: unknown): void {
  if (isFerryError(error, 'integrity_violation')) {
    const violations = (error.details as { violations: IntegrityViolation[] }).violations;
    core.observer.setStatus({ integrity: { at: core.ctx.now(), violations } });
  }
}

import { settleFrozenBundle } from '../apply/apply-bundles.js';
import type { ClientCore } from '../client-core.js';
import {
  clearFrozenBundle,
  readFrozenBundleHead,
  setApplying,
  writeState,
  type FrozenBundle,
} from '../local/metadata.js';
import { foldCaptureLog } from '../outbox/fold-capture-log.js';
import { inFlightStatusOf } from '../status/client-status.js';
import type { CycleReport } from './cycle-report.js';

/**
 * The server said our bundle committed as `bundleSeq`: remembers that in the file (the bundle
 * now waits for the pull that reaches it in `bundleSeq` order, which acknowledges it), and
 * counts, logs and shows it.
 */
export async function recordCommitted(
  core: ClientCore,
  bundle: FrozenBundle,
  bundleSeq: number,
  report: CycleReport,
): Promise<void> {
  await core.db.run(
    'UPDATE ferry_bundle SET committed_seq = ? WHERE id = 1 AND source_bundle_id = ?',
    [bundleSeq, bundle.sourceBundleId],
  );
  report.pushed += bundle.changes.length;
  report.bundlesPushed++;
  core.metrics.rowsPushed += bundle.changes.length;
  core.observer.log(
    'info',
    'bundle-committed',
    `bundle ${bundle.sourceBundleId} committed as ${bundleSeq}`,
    {
      correlationId: `${core.ctx.sourceId}:${bundle.sourceBundleId}`,
      sourceBundleId: bundle.sourceBundleId,
      bundleSeq,
      changes: bundle.changes.length,
    },
  );
  core.observer.setStatus({
    lastPushAt: core.ctx.now(),
    inFlight: { ...inFlightStatusOf(bundle), committedSeq: bundleSeq },
  });
}

/**
 * Settles our bundle when it committed at or before the checkpoint (a replay after a hydration,
 * or an answer whose rows a snapshot already brought): no pull will bring it again, so it is
 * settled now like an acknowledgement (`settleFrozenBundle` with `ack`).
 */
export async function settleLateAck(core: ClientCore): Promise<void> {
  await core.db.transaction(
    async (tx) => {
      const frozen = await readFrozenBundleHead(tx);
      if (!frozen) return;
      // Edits made while the bundle was in flight must be pending before it is settled.
      await foldCaptureLog(tx, core.ctx.now());
      await setApplying(tx, true);
      await settleFrozenBundle(tx, core.ctx, 'ack');
      await clearFrozenBundle(tx);
      await writeState(tx, 'next_source_bundle_id', frozen.sourceBundleId + 1);
      await setApplying(tx, false);
    },
    { foreignKeysOff: true },
  );
}

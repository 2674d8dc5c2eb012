import type { RowEffect } from '@ferry/protocol';
import { settleFrozenBundle } from '../apply/apply-bundles.js';
import { normalizeRow } from '../apply/normalize-row.js';
import type { ClientCore } from '../client-core.js';
import {
  finishFrozenBundle,
  readFrozenBundleHead,
  recordCommittedRows,
  recordCommittedSeq,
  setApplying,
  type FrozenBundle,
} from '../local/metadata.js';
import { settleCancelledThrough } from '../outbox/cancelled-inserts.js';
import { foldCaptureLog } from '../outbox/fold-capture-log.js';
import { inFlightStatusOf } from '../status/client-status.js';
import type { CycleReport } from './cycle-report.js';
import { learnBasesPoint } from '../local/bases-point.js';

/**
 * The server said our bundle committed as `bundleSeq` with `rows`: remembers both in the file
 * (the bundle now waits for the pull that reaches it in `bundleSeq` order, which acknowledges
 * it; its committed rows are the base of edits made on them meanwhile), and counts, logs and
 * shows it.
 */
export async function recordCommitted(
  core: ClientCore,
  bundle: FrozenBundle,
  answer: {
    readonly bundleSeq: number;
    readonly rows: readonly RowEffect[];
    readonly token?: string | undefined;
  },
  report: CycleReport,
): Promise<void> {
  const { codecs } = core.ctx;
  const { bundleSeq, rows } = answer;
  await core.db.transaction(async (tx) => {
    if (!(await recordCommittedSeq(tx, bundle.sourceBundleId, bundleSeq))) return;
    // The commit's versions are above the checkpoint until a pull brings the bundle.
    await learnBasesPoint(tx, answer);
    // The server's last bundle of our source is this one: no other install (a copy, the file's
    // own lost future before a restore) pushed past it, so inserts folded away before it was
    // frozen were never pushed by one either.
    if (bundle.sourceId === core.ctx.sourceId) {
      await settleCancelledThrough(tx, bundle.sourceBundleId);
    }
    if (core.ctx.faults?.forgetCommittedRows === true) return;
    await recordCommittedRows(
      tx,
      rows.flatMap((effect) => {
        const codec = codecs.get(effect.table);
        if (!codec) return [];
        return [
          {
            table: effect.table,
            pk: codec.encodePk(effect.pk),
            rowVersion: effect.rowVersion,
            row: effect.op === 'upsert' ? normalizeRow(codec, effect.row ?? {}) : null,
          },
        ];
      }),
    );
  });
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
 * settled now (`settleFrozenBundle` with `late-ack`).
 */
export async function settleLateAck(core: ClientCore): Promise<void> {
  await core.db.transaction(
    async (tx) => {
      const frozen = await readFrozenBundleHead(tx);
      if (!frozen) return;
      // Edits made while the bundle was in flight must be pending before it is settled.
      await foldCaptureLog(tx, core.ctx.now());
      await setApplying(tx, true);
      // At or before the checkpoint: newer remote changes of its rows may have been applied
      // since, so edits stacked on it are pinned to our commit (`late-ack`), not released.
      await settleFrozenBundle(tx, core.ctx, 'late-ack');
      await finishFrozenBundle(tx, frozen, core.ctx.sourceId);
      await setApplying(tx, false);
    },
    { foreignKeysOff: true },
  );
}

import type { RowEffect } from '@ferry/protocol';
import { settleFrozenBundle } from '../apply/apply-bundles.js';
import { normalizeRow } from '../apply/normalize-row.js';
import type { LocalParts } from '../engine-context.js';
import {
  finishFrozenBundle,
  readFrozenBundleHead,
  recordCommittedRows,
  recordCommittedSeq,
  setApplying,
  type FrozenBundle,
} from '../local/metadata.js';
import { settleCancelledThrough } from '../local/cancelled-inserts.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { bundleRef, type EngineEvent } from '../status/engine-event.js';
import { learnBasesPoint } from '../local/bases-point.js';
import {
  assignedKeysOf,
  remapTemporaryKeys,
  tablesOfRemap,
  type AssignedKey,
} from '../local/remap-keys.js';

/** Committed rows read between two chances for the event loop to turn. */
const ROWS_STEP = 1_000;

/**
 * The server said our bundle committed as `bundleSeq` with `rows`: remembers both in the file
 * (the bundle now waits for the pull that reaches it in `bundleSeq` order, which acknowledges
 * it; its committed rows are the base of edits made on them meanwhile), and gives the rows it
 * inserted under temporary keys the keys the server assigned. Its event: `bundle-committed`.
 */
export async function recordCommitted(
  deps: LocalParts,
  bundle: FrozenBundle,
  answer: {
    readonly bundleSeq: number;
    readonly rows: readonly RowEffect[];
    readonly token?: string | undefined;
  },
): Promise<EngineEvent[]> {
  const { db, ctx } = deps;
  const { codecs } = ctx;
  const { bundleSeq, rows } = answer;
  const assigned = assignedKeysOf(rows);
  let remapped: AssignedKey[] = [];
  // A remap may replace a server copy of a row: its children must not cascade.
  const options = assigned.length > 0 ? { foreignKeysOff: true } : undefined;
  await db.transaction(async (tx) => {
    if (!(await recordCommittedSeq(tx, bundle.sourceBundleId, bundleSeq))) return;
    // Rows inserted under temporary keys take the server's keys at once, in this transaction.
    remapped = await remapTemporaryKeys(
      tx,
      ctx.schema,
      codecs,
      assigned,
      { sourceId: bundle.sourceId, sourceBundleId: bundle.sourceBundleId },
      ctx.now(),
    );
    if (remapped.length > 0) await ctx.hook('during-key-remap');
    // The commit's versions are above the checkpoint until a pull brings the bundle.
    await learnBasesPoint(tx, answer);
    // The server's last bundle of our source is this one: no other install (a copy, the file's
    // own lost future before a restore) pushed past it, so inserts folded away before it was
    // frozen were never pushed by one either.
    if (bundle.sourceId === ctx.sourceId) {
      await settleCancelledThrough(tx, bundle.sourceBundleId);
    }
    if (ctx.faults?.forgetCommittedRows === true) return;
    // Read a run of rows at a time, the event loop getting its turns in between.
    const committed: Parameters<typeof recordCommittedRows>[1][number][] = [];
    for (let start = 0; start < rows.length; start += ROWS_STEP) {
      if (start > 0) await tx.pause();
      for (const effect of rows.slice(start, start + ROWS_STEP)) {
        const codec = codecs.get(effect.table);
        if (!codec) continue;
        committed.push({
          table: effect.table,
          pk: codec.encodePk(effect.pk),
          rowVersion: effect.rowVersion,
          row: effect.op === 'upsert' ? normalizeRow(codec, effect.row ?? {}) : null,
        });
      }
    }
    await recordCommittedRows(tx, committed);
  }, options);
  return [
    {
      type: 'bundle-committed',
      bundle,
      ref: bundleRef(ctx.sourceId, bundle),
      bundleSeq,
      at: ctx.now(),
      keys: remapped,
      tables: tablesOfRemap(ctx.schema, remapped),
    },
  ];
}

/**
 * Settles our bundle when it committed at or before the checkpoint (a replay after a hydration,
 * or an answer whose rows a snapshot already brought): no pull will bring it again, so it is
 * settled now (`settleFrozenBundle` with `late-ack`).
 */
export async function settleLateAck(deps: LocalParts): Promise<void> {
  const { db, ctx } = deps;
  await db.transaction(
    async (tx) => {
      const frozen = await readFrozenBundleHead(tx);
      if (!frozen) return;
      // Edits made while the bundle was in flight must be pending before it is settled.
      await foldCaptureLog(tx, ctx.now());
      await setApplying(tx, true);
      // At or before the checkpoint: newer remote changes of its rows may have been applied
      // since, so edits stacked on it are pinned to our commit (`late-ack`), not released.
      await settleFrozenBundle(tx, ctx, 'late-ack');
      await finishFrozenBundle(tx, frozen, ctx.sourceId);
      await setApplying(tx, false);
    },
    { foreignKeysOff: true },
  );
}

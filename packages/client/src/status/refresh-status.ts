import type { LocalParts } from '../engine-context.js';
import { readFrozenBundleHead, readLocalCounts, readState } from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import type { EngineEvent } from './engine-event.js';

/**
 * Reads the counts of the status from the file in one transaction (folding the capture log
 * first, so writes of other connections count too): pending rows, the oldest pending or
 * in-flight change, the bundle in flight, the checkpoint, manual conflicts, the journal of
 * settled conflicts and dead letters. Its event: `counts-read`.
 */
export async function readStatusCounts(deps: LocalParts): Promise<EngineEvent> {
  const { db, ctx } = deps;
  const counts = await db.transaction(async (tx) => {
    await foldCaptureLog(tx, ctx.now());
    const local = await readLocalCounts(tx);
    const frozen = await readFrozenBundleHead(tx);
    const checkpoint = (await readState(tx, 'checkpoint')) as number | null;
    return { ...local, frozen, checkpoint };
  });
  return {
    type: 'counts-read',
    pending: counts.pending,
    oldestPendingAt: counts.oldest,
    frozen: counts.frozen,
    checkpoint: counts.checkpoint,
    conflicts: counts.conflicts,
    settledConflicts: counts.settled,
    deadLetters: counts.dead,
    at: ctx.now(),
  };
}

import type { ClientCore } from '../client-core.js';
import { readFrozenBundleHead, readLocalCounts, readState } from '../local/metadata.js';
import { foldCaptureLog } from '../outbox/fold-capture-log.js';
import type { ClientStatus } from '../types.js';
import { inFlightStatusOf } from './client-status.js';

/**
 * Refreshes the counts of the status from the file in one transaction (folding the capture log
 * first, so writes of other connections count too): pending rows, the oldest pending or
 * in-flight change, the bundle in flight, the checkpoint, manual conflicts, the journal of
 * settled conflicts and dead letters.
 */
export async function refreshStatus(core: ClientCore): Promise<ClientStatus> {
  const counts = await core.db.transaction(async (tx) => {
    await foldCaptureLog(tx, core.ctx.now());
    const local = await readLocalCounts(tx);
    const frozen = await readFrozenBundleHead(tx);
    const checkpoint = (await readState(tx, 'checkpoint')) as number | null;
    return { ...local, frozen, checkpoint };
  });
  const now = core.ctx.now();
  core.observer.setStatus({
    pending: counts.pending,
    oldestPendingAt: counts.oldest,
    oldestPendingAgeMs: counts.oldest === null ? null : Math.max(0, now - counts.oldest),
    inFlight: counts.frozen ? inFlightStatusOf(counts.frozen) : null,
    checkpoint: counts.checkpoint,
    conflicts: counts.conflicts,
    settledConflicts: counts.settled,
    deadLetters: counts.dead,
  });
  return core.observer.status;
}

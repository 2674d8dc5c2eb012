import type { ClientCore } from '../client-core.js';
import { readFrozenBundleHead, readState, writeState } from '../local/metadata.js';
import { clearSnapshotStage } from '../local/snapshot-stage.js';
import type { CycleReport } from './cycle-report.js';
import { applySnapshot } from '../apply/hydrate.js';
import { downloadSnapshot } from './download-snapshot.js';
import { recordIntegrityFailure } from './pull-apply.js';

/**
 * Replaces the server state from `GET /v1/snapshot`: streams it into the staging table (no lock
 * held across the network), then applies it in one transaction with pending local changes kept
 * on top; shows `hydrating` meanwhile, then counts, logs and announces it. A staged snapshot
 * that fails to apply is dropped.
 */
export async function runHydration(
  core: ClientCore,
  signal: AbortSignal,
  report: CycleReport,
): Promise<void> {
  const { db, ctx, observer } = core;
  const previous = observer.engine.state;
  observer.setStatus({ state: 'hydrating' });
  const staged = await downloadSnapshot(db, core.transport, ctx, {
    signal,
    timeoutMs: core.settings.requestTimeoutMs * 10,
  });
  try {
    const result = await db.transaction(
      async (tx) => applySnapshot(tx, ctx, staged, await readFrozenBundleHead(tx)),
      { foreignKeysOff: true },
    );
    report.hydrated = true;
    report.pulled += result.applied;
    report.warnings.push(...result.warnings);
    core.metrics.rowsPulled += result.applied;
    observer.setStatus({
      state: previous,
      checkpoint: staged.snapshotBundleSeq,
      lastPullAt: ctx.now(),
      integrity: null,
    });
    observer.log('info', 'hydrated', `hydrated ${result.applied} rows`, {
      rows: result.applied,
      checkpoint: staged.snapshotBundleSeq,
    });
    observer.emit({
      type: 'remote-change',
      tables: ctx.schema.tables.map((t) => t.name),
      rows: result.applied,
      checkpoint: staged.snapshotBundleSeq,
    });
  } catch (error) {
    await clearSnapshotStage(db).catch(() => undefined);
    recordIntegrityFailure(core, error);
    throw error;
  }
}

/**
 * Whether the cycle must hydrate first: the file is marked for it (a changed schema), or it never
 * synced and starts from a snapshot (`initialSync: 'hydrate'`). With `initialSync: 'pull'`, a
 * file that never synced starts pulling from checkpoint 0 instead.
 */
export async function needsHydration(core: ClientCore): Promise<boolean> {
  const [checkpoint, needs] = await Promise.all([
    readState(core.db, 'checkpoint'),
    readState(core.db, 'needs_hydration'),
  ]);
  if (needs === 1) return true;
  if (checkpoint !== null) return false;
  if (core.settings.initialSync === 'pull') {
    await writeState(core.db, 'checkpoint', 0);
    return false;
  }
  return true;
}

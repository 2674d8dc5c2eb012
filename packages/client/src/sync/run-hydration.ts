import type { EngineSettings, LocalParts } from '../engine-context.js';
import { readFrozenBundleHead, readState, writeState, type Executor } from '../local/metadata.js';
import { clearSnapshotStage } from '../local/snapshot-stage.js';
import type { Recorder } from '../status/engine-event.js';
import type { Transport } from './transport.js';
import { applySnapshot } from '../apply/hydrate.js';
import { downloadSnapshot } from './download-snapshot.js';

/**
 * Replaces the server state from `GET /v1/snapshot`: streams it into the staging table (no lock
 * held across the network), then applies it in one transaction with pending local changes kept
 * on top. Records `hydration-started`, then `hydrated`. A staged snapshot that fails to apply is
 * dropped.
 */
export async function runHydration(
  deps: LocalParts & {
    readonly transport: Transport;
    readonly settings: Pick<EngineSettings, 'requestTimeoutMs'>;
    readonly recorder: Recorder;
  },
  signal: AbortSignal,
): Promise<void> {
  const { db, ctx, recorder } = deps;
  recorder.record({ type: 'hydration-started' });
  const staged = await downloadSnapshot(db, deps.transport, ctx, {
    signal,
    timeoutMs: deps.settings.requestTimeoutMs * 10,
  });
  try {
    const result = await db.transaction(
      async (tx) => applySnapshot(tx, ctx, staged, await readFrozenBundleHead(tx)),
      { foreignKeysOff: true },
    );
    recorder.record({
      type: 'hydrated',
      rows: result.applied,
      checkpoint: staged.snapshotBundleSeq,
      tables: [...ctx.schema.tables.map((t) => t.name), ...result.rebuilt],
      warnings: result.warnings,
      at: ctx.now(),
    });
  } catch (error) {
    await clearSnapshotStage(db).catch(() => undefined);
    throw error;
  }
}

/**
 * Whether the cycle must hydrate first: the file is marked for it (a changed schema), or it never
 * synced and starts from a snapshot (`initialSync: 'hydrate'`). With `initialSync: 'pull'`, a
 * file that never synced starts pulling from checkpoint 0 instead.
 */
export async function needsHydration(
  db: Executor,
  initialSync: EngineSettings['initialSync'],
): Promise<boolean> {
  const [checkpoint, needs] = await Promise.all([
    readState(db, 'checkpoint'),
    readState(db, 'needs_hydration'),
  ]);
  if (needs === 1) return true;
  if (checkpoint !== null) return false;
  if (initialSync === 'pull') {
    await writeState(db, 'checkpoint', 0);
    return false;
  }
  return true;
}

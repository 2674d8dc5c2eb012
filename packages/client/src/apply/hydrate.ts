import { rebuildDerived } from './rebuild-derived.js';
import type { Row, SnapshotAfterHistory } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import {
  forgetCommit,
  dropLostHistoryVersions,
  forgetHistory,
  readState,
  setApplying,
  writeState,
  type Executor,
  type FrozenBundleHead,
} from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { clearBasesPoint, readBasesPoint } from '../local/bases-point.js';
import {
  clearSnapshotStage,
  deleteRowsOutsideSnapshot,
  pinPendingOutsideSnapshot,
  readStagedRows,
  retireRowStatesOutsideSnapshot,
  SNAPSHOT_TABLE,
  STAGE_BATCH,
} from '../local/snapshot-stage.js';
import { applyRowEffect, integrityError } from './apply-bundles.js';
import { intentPresence } from '../local/apply-store.js';
import { applyEffectsWithoutIntent } from './apply-effects-batch.js';
import {
  buildIntegrityQueries,
  findIntegrityViolations,
  type IntegrityViolation,
} from './integrity-gate.js';

/** A downloaded, complete snapshot waiting in the staging table (`local/snapshot-stage.ts`). */
export interface StagedSnapshot {
  readonly snapshotBundleSeq: number;
  readonly rowCount: number;
  /** The history token of `snapshotBundleSeq`, when the server gave one. */
  readonly token: string | null;
  /** The server database's identity, when the server gave one. */
  readonly serverId: string | null;
  /** What the server said of the checkpoint the file asked with, when it said anything. */
  readonly after?: { readonly seq: number; readonly history: SnapshotAfterHistory } | undefined;
}

/** Outcome of {@link applySnapshot}. */
export interface SnapshotApplyResult {
  readonly applied: number;
  readonly warnings: readonly IntegrityViolation[];
  /** The derived states rebuilt (all of them: a snapshot may have changed anything). */
  readonly rebuilt: readonly string[];
}

/**
 * Whether a snapshot shows that the server does not have the history the file followed, though
 * nothing refused us (an app's `hydrate()` after the server was restored from a backup): the
 * server judged the file's checkpoint `lost` in the snapshot's own read, or, from a server that
 * does not judge it, the snapshot ends before the file's checkpoint (on one history the server's
 * horizon never goes back) or at the checkpoint under another token. Pure.
 */
export function snapshotDeniesHistory(
  file: {
    readonly checkpoint: number;
    readonly checkpointToken: string | null;
    /** The seq of the file's bases point, when it holds one (`local/bases-point.ts`). */
    readonly basesPoint?: number | undefined;
  },
  snapshot: Pick<StagedSnapshot, 'snapshotBundleSeq' | 'token' | 'after'>,
): boolean {
  const asked = snapshot.after?.seq;
  if (
    snapshot.after?.history === 'lost' &&
    (asked === file.checkpoint || asked === file.basesPoint)
  ) {
    return true;
  }
  if (snapshot.snapshotBundleSeq < file.checkpoint) return true;
  return (
    snapshot.snapshotBundleSeq === file.checkpoint &&
    file.checkpointToken !== null &&
    snapshot.token !== null &&
    snapshot.token !== file.checkpointToken
  );
}

/**
 * Replaces the server state of every synced table with the staged snapshot, inside the caller's
 * transaction (foreign keys off): rows with local intent keep their local value on top (their
 * pending entries pinned to the base they were made on), every other row becomes the server's,
 * rows the snapshot lacks are removed, and the checkpoint becomes `snapshotBundleSeq`. What the
 * server said of our bundle in flight, when it committed at or before the snapshot, is forgotten:
 * the next push confirms it (see `forgetCommit`).
 */
export async function applySnapshot(
  tx: Executor,
  ctx: EngineContext,
  staged: StagedSnapshot,
  frozen: FrozenBundleHead | null,
): Promise<SnapshotApplyResult> {
  await foldCaptureLog(tx, ctx.now());
  await setApplying(tx, true);
  const point = await readBasesPoint(tx);
  const file = {
    checkpoint: ((await readState(tx, 'checkpoint')) as number | null) ?? 0,
    checkpointToken: (await readState(tx, 'checkpoint_token')) as string | null,
    basesPoint: point?.bundleSeq,
  };
  // A lost history found by the snapshot itself: what the file knew of it goes first, as after
  // a 410 cursor_unknown.
  if (snapshotDeniesHistory(file, staged)) await forgetHistory(tx);
  // A snapshot asked at the bases point judged it: kept (or pruned), the snapshot's history
  // vouches for it; lost, everything learned of that history goes just above.
  if (point !== null && staged.after?.seq === point.bundleSeq) await clearBasesPoint(tx);
  // Pending edits of rows the snapshot lacks are pinned to the server state they were made on
  // (rows in the snapshot are pinned by `applyRowEffect`): `pinOnRemoteEffect`, set-based. An
  // edit stacked on the row's change in flight is not: its base is that change's result, pinned
  // when the change settles (`pending-pin.ts`, invariants 2 and 3).
  await pinPendingOutsideSnapshot(tx);
  // Rows the snapshot lacks are gone from the server (a snapshot has no tombstones): what we
  // knew of them stays as a tombstone at the version we knew, so that a re-insert of one goes
  // out on it (meeting a later delete as a conflict, not as a row that never existed). After a
  // lost history (see `forgetHistory`), what we knew belongs to that history and goes.
  const lost = (((await readState(tx, 'history_lost')) as number | null) ?? 0) !== 0;
  await retireRowStatesOutsideSnapshot(tx, lost);
  if (lost) await writeState(tx, 'history_lost', 0);
  for (const table of ctx.schema.tables) await deleteRowsOutsideSnapshot(tx, table);
  const presence = await intentPresence(tx);
  let applied = 0;
  let after = 0;
  let seen = 0;
  let midHookDone = false;
  for (;;) {
    const rows = await readStagedRows(tx, after, STAGE_BATCH);
    if (rows.length === 0) break;
    const effects = rows.map((line) => ({
      table: line.tbl,
      pk: line.pk as string | number,
      op: 'upsert' as const,
      rowVersion: line.version,
      row: JSON.parse(line.row) as Row,
    }));
    if (!presence.pending && !presence.other) {
      // No local intent anywhere (a fresh file): set-based.
      applied += await applyEffectsWithoutIntent(tx, ctx, effects, null, true);
    } else {
      for (const effect of effects) {
        if (await applyRowEffect(tx, ctx, effect, null, { ack: false, force: true, presence }))
          applied++;
      }
    }
    after = rows[rows.length - 1]!.seq;
    seen += rows.length;
    if (!midHookDone && seen * 2 >= staged.rowCount) {
      midHookDone = true;
      await ctx.hook('during-hydration');
    }
  }
  // Our bundle committed at or before the snapshot, the server said: but a snapshot cannot show
  // whose rows it has, so the commit is confirmed by sending the bundle again (a replay answer
  // settles it late; a server restored since would answer a gap, and it commits anew).
  if (frozen && frozen.committedSeq !== null && frozen.committedSeq <= staged.snapshotBundleSeq) {
    await forgetCommit(tx);
  }
  // After a lost history (see `forgetHistory`), the versions local changes were made on are that
  // history's: another history numbers its versions anew, and one may coincide (a pin to an old
  // live version equal to the new tombstone's would re-create the row unchallenged). Changes
  // keep the base row they were made on but not its version, so the server answers each with a
  // conflict and the resolver merges it against the base by content (a change of a row the
  // server never had goes out as new). The same holds for what waits on the app: a dead letter
  // retried, or a manual conflict resolved, goes out on the versions of the current history.
  if (lost) await dropLostHistoryVersions(tx);
  await writeState(tx, 'checkpoint', staged.snapshotBundleSeq);
  await writeState(tx, 'checkpoint_token', staged.token);
  if (staged.serverId !== null) await writeState(tx, 'server_id', staged.serverId);
  await writeState(tx, 'needs_hydration', 0);
  const violations = await findIntegrityViolations(
    tx,
    buildIntegrityQueries(
      ctx.schema,
      { upserted: new Set(ctx.schema.tables.map((t) => t.name)), deleted: new Set() },
      SNAPSHOT_TABLE,
    ),
  );
  const required = violations.filter((v) => v.required);
  if (required.length > 0) throw integrityError(required);
  const rebuilt = await rebuildDerived(tx, ctx.derived, null);
  await setApplying(tx, false);
  await clearSnapshotStage(tx);
  return { applied, warnings: violations, rebuilt };
}

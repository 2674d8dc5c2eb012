import { FerryError, withCountersRebased, type Row } from '@ferry/protocol';
import { restoreServerRow } from '../apply/apply-bundles.js';
import { completedRow, normalizeRow } from '../apply/normalize-row.js';
import type { LocalParts } from '../engine-context.js';
import {
  deletePending,
  parseRow,
  readPending,
  readRowState,
  setApplying,
  writePending,
  type RowState,
} from '../local/metadata.js';
import { deleteConflict, readConflict, readConflicts } from '../local/conflict-store.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import type { TableCodec } from '../local/table-codec.js';
import type { PendingOp } from '../local/metadata.js';
import type { ConflictChoice, ManualConflict } from '../types.js';

/** The manual conflicts waiting for the app, oldest first. */
export async function listConflicts(parts: LocalParts): Promise<ManualConflict[]> {
  const rows = await readConflicts(parts.db);
  return rows.map((r) => ({
    id: r.id,
    table: r.tbl,
    pk: r.pk,
    local: parseRow(r.local),
    base: parseRow(r.base),
    server: parseRow(r.server),
    serverVersion: r.server_version,
    serverDeleted: r.server_deleted === 1,
    reason: r.reason,
    at: r.at,
  }));
}

/**
 * Settles manual conflict `id` in one transaction: `'server'` drops the local change and returns
 * the row to its server state; `'client'` pushes the local row as it is now; `{ row }` writes
 * that row (or deletes it, for null) and pushes it. A pushed choice goes out against the
 * server's current version (the local row wins). Throws `invalid_argument` for a bad choice or
 * an unknown id.
 */
export async function resolveConflict(
  parts: LocalParts,
  id: number,
  choice: ConflictChoice,
): Promise<void> {
  if (
    choice !== 'server' &&
    choice !== 'client' &&
    (typeof choice !== 'object' || choice === null || !('row' in choice))
  ) {
    throw new FerryError('invalid_argument', "choice must be 'server', 'client' or { row }");
  }
  await parts.db.transaction(
    async (tx) => {
      await foldCaptureLog(tx, parts.ctx.now());
      const conflict = await readConflict(tx, id);
      if (!conflict) throw new FerryError('invalid_argument', `no open conflict ${id}`);
      const codec = codecOf(parts, conflict.tbl);
      await deleteConflict(tx, id);
      await setApplying(tx, true);
      const layer0 = await readRowState(tx, conflict.tbl, conflict.pk);
      if (choice === 'server') {
        await deletePending(tx, conflict.tbl, conflict.pk);
        await restoreServerRow(tx, codec, conflict.pk, layer0);
      } else {
        if (choice === 'client') {
          // The local row wins, and its counters still add up: the values of the server state
          // the push will be pinned to (below) plus what this device added since the conflict's
          // base.
          const [current] = await tx.all(codec.selectSql, [conflict.pk]);
          const pinBase = newestServerState(layer0, {
            version: conflict.server_version,
            deleted: conflict.server_deleted === 1,
            base: parseRow(conflict.server),
          })?.base;
          if (current !== undefined && pinBase) {
            const local = codec.decode(current);
            const rebased = withCountersRebased(
              codec.table,
              local,
              parseRow(conflict.base),
              pinBase,
            );
            if (rebased !== local) await tx.run(codec.upsertSql, codec.encode(rebased));
          }
        } else if (typeof choice === 'object') {
          if (choice.row === null) await tx.run(codec.deleteSql, [conflict.pk]);
          else {
            const [current] = await tx.all(codec.selectSql, [conflict.pk]);
            const row = completedRow(codec, current === undefined ? null : codec.decode(current), {
              ...choice.row,
              [codec.table.primaryKey]: conflict.pk,
            });
            await tx.run(codec.upsertSql, codec.encode(normalizeRow(codec, row)));
          }
        }
        const exists = (await tx.all(codec.selectSql, [conflict.pk])).length > 0;
        const pending = await readPending(tx, conflict.tbl, conflict.pk);
        // Against the server's current version (the local row wins): the newest we know, from
        // the pulls or from the conflict itself (a snapshot since may have left no trace of a
        // row the server deleted).
        const server = newestServerState(layer0, {
          version: conflict.server_version,
          deleted: conflict.server_deleted === 1,
          base: parseRow(conflict.server),
        });
        // Gone on both sides by the conflict's account, but alive as of the checkpoint: the delete
        // still goes out (it has no effect on the server), so that until the pull brings the
        // server's delete the row stays local intent, not a row missing from the server's state.
        const op =
          resolvedPendingOp(exists, server) ??
          (resolvedPendingOp(exists, layer0) === 'D' ? 'D' : null);
        if (op === null) await deletePending(tx, conflict.tbl, conflict.pk);
        else {
          await writePending(tx, {
            tbl: conflict.tbl,
            pk: conflict.pk,
            op,
            firstGroup: pending?.firstGroup ?? 0,
            lastGroup: pending?.lastGroup ?? 0,
            firstAt: pending?.firstAt ?? conflict.first_at,
            pinned: server !== undefined,
            pinVersion: server?.version ?? null,
            pinBase: server?.base ?? null,
          });
        }
      }
      await setApplying(tx, false);
    },
    { foreignKeysOff: true },
  );
}

/**
 * The pending op that pushes a resolved row as it now is locally: `U` when the row exists and
 * the server knows it, `I` when only we have it, `D` when it is gone locally but alive on the
 * server, null when there is nothing to push (gone on both sides). Pure.
 */
export function resolvedPendingOp(
  existsLocally: boolean,
  server: Pick<RowState, 'deleted'> | undefined,
): PendingOp | null {
  if (existsLocally) return server !== undefined ? 'U' : 'I';
  return server !== undefined && !server.deleted ? 'D' : null;
}

/**
 * The newer of two accounts of a row's server state: the row state the file holds (`known`) and
 * the one a conflict reported. Undefined when neither says the server has (or had) the row. Pure.
 */
export function newestServerState(
  known: RowState | undefined,
  reported: {
    readonly version: number | null;
    readonly deleted: boolean;
    readonly base: Row | null;
  },
): RowState | undefined {
  if (reported.version === null || (known !== undefined && known.version >= reported.version)) {
    return known;
  }
  return {
    version: reported.version,
    deleted: reported.deleted,
    base: reported.deleted ? null : reported.base,
  };
}

function codecOf(parts: LocalParts, table: string): TableCodec {
  const codec = parts.ctx.codecs.get(table);
  if (!codec) throw new FerryError('invalid_argument', `unknown table "${table}"`);
  return codec;
}

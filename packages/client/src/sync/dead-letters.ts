import { FerryError, type PrimaryKey } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import {
  clearFrozenBundle,
  deleteFrozenChange,
  type Executor,
  type FrozenBundle,
  type FrozenChange,
} from '../local/metadata.js';
import { putDeadLetter } from '../local/dead-letter-store.js';
import { rowKeyOf } from '../outbox/coalesce.js';
import { unfreezeChange } from '../outbox/freeze-bundle.js';
import type { DeadLetterReport } from '../types.js';

/** A change the server refused for good, named by its index in the sent bundle. */
export interface RejectedChange {
  readonly index: number;
  readonly table: string;
  readonly pk: PrimaryKey | null;
  readonly code: string;
  readonly message: string;
}

/**
 * Moves refused changes of the frozen bundle to `ferry_dead_letters` (with the server's error
 * and the change, so it can be retried or discarded), inside the caller's transaction. Changes
 * of the bundle that reference a dead-lettered row (by the relation graph, transitively) go back
 * to the pending outbox, where they wait with it instead of failing against the server. The rest
 * stays in the bundle, which keeps its `sourceBundleId`.
 */
export async function deadLetterChanges(
  tx: Executor,
  ctx: EngineContext,
  bundle: FrozenBundle,
  rejected: readonly RejectedChange[],
  status: number | null,
): Promise<DeadLetterReport[]> {
  const reports: DeadLetterReport[] = [];
  const gone = new Set<number>();
  const blocked = new Set<string>();
  for (const rejection of rejected) {
    const change = bundle.changes[rejection.index];
    if (
      !change ||
      change.tbl !== rejection.table ||
      (rejection.pk !== null && String(change.pk) !== String(rejection.pk))
    ) {
      throw new FerryError(
        'bad_response',
        `the server refused change ${rejection.index} (${rejection.table}), which is not in the bundle`,
      );
    }
    if (gone.has(change.ord)) continue;
    gone.add(change.ord);
    blocked.add(rowKeyOf(change.tbl, change.pk));
    const id = await insertDeadLetter(tx, ctx, change, rejection, status, bundle.sourceBundleId);
    await deleteFrozenChange(tx, change.ord);
    reports.push({
      id,
      table: change.tbl,
      pk: change.pk,
      code: rejection.code,
      message: rejection.message,
    });
  }
  let grew = true;
  while (grew) {
    grew = false;
    for (const change of bundle.changes) {
      if (gone.has(change.ord) || change.op !== 'upsert' || change.row === null) continue;
      const table = ctx.schema.requireTable(change.tbl);
      const dependsOnBlocked = table.references.some((reference) => {
        const value = change.row![reference.column];
        return (
          value !== null &&
          value !== undefined &&
          blocked.has(rowKeyOf(reference.parentTable, value))
        );
      });
      if (dependsOnBlocked) {
        gone.add(change.ord);
        blocked.add(rowKeyOf(change.tbl, change.pk));
        await unfreezeChange(tx, change);
        grew = true;
      }
    }
  }
  if (gone.size === bundle.changes.length) await clearFrozenBundle(tx);
  return reports;
}

function insertDeadLetter(
  tx: Executor,
  ctx: EngineContext,
  change: FrozenChange,
  rejection: RejectedChange,
  status: number | null,
  sourceBundleId: number,
): Promise<number> {
  return putDeadLetter(tx, change, {
    code: rejection.code,
    message: rejection.message,
    status,
    sourceBundleId,
    at: ctx.now(),
  });
}

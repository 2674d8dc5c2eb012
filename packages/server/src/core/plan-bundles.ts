import {
  orderByRelations,
  type PrimaryKey,
  type RelationGraph,
  type RowEffect,
  type WireRow,
} from '@ferry/protocol';
import type { RowState } from './decide-push.js';

/**
 * A row that a transaction touched (captured by a trigger), with its state before the
 * transaction and its business row after it.
 */
export interface CapturedRow {
  readonly table: string;
  readonly pk: PrimaryKey;
  /** The row as it is now, with its owner; undefined when it no longer exists. */
  readonly current: { readonly owner: string; readonly row: WireRow } | undefined;
  /** The sync metadata from before the transaction; undefined for a row never seen. */
  readonly previous: RowState | undefined;
  /** The temporary key a push inserted this row by, when the server assigned its key. */
  readonly tempKey?: PrimaryKey | undefined;
}

/** One user's bundle, planned. */
export interface PlannedBundle {
  readonly userId: string;
  readonly bundleSeq: number;
  /** Row effects, parents first for upserts then children first for deletes. */
  readonly effects: readonly RowEffect[];
}

/** The new sync metadata of a touched row. */
export interface PlannedRowState {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly state: RowState;
}

/** Outcome of {@link planBundles}. */
export interface BundlePlan {
  /** One bundle per affected user, in order of first appearance. */
  readonly bundles: readonly PlannedBundle[];
  readonly rowStates: readonly PlannedRowState[];
}

/**
 * Turns the rows one transaction touched into one bundle per affected user.
 *
 * 1. A row that exists now is an upsert for its current owner.
 * 2. A row that was alive before and is gone now, or now belongs to someone else, is a delete
 *    for its previous owner.
 * 3. A row that was created and removed within the transaction has no effect.
 * 4. Each affected user's bundle gets `lastSeqOf(user) + 1`; every touched row gets
 *    `rowVersion = max(previous + 1, bundleSeq of every user it touches)`, so versions keep
 *    increasing even when a row moves between users.
 * 5. `alwaysFor` gets a bundle even when it has no effects (a push always consumes a seq).
 * 6. A row the push inserted under a temporary key carries it (`tempKey`) in its upsert effect.
 */
export function planBundles(
  captured: readonly CapturedRow[],
  lastSeqOf: (userId: string) => number,
  graph: RelationGraph,
  alwaysFor?: string,
): BundlePlan {
  const seqs = new Map<string, number>();
  const effects = new Map<string, RowEffect[]>();
  const seqOf = (userId: string): number => {
    let seq = seqs.get(userId);
    if (seq === undefined) {
      seq = lastSeqOf(userId) + 1;
      seqs.set(userId, seq);
      effects.set(userId, []);
    }
    return seq;
  };
  if (alwaysFor !== undefined) seqOf(alwaysFor);

  const rowStates: PlannedRowState[] = [];
  for (const row of captured) {
    const newOwner = row.current?.owner;
    const previous = row.previous;
    const oldOwner = previous && !previous.deleted ? previous.owner : undefined;
    const losing = oldOwner !== undefined && oldOwner !== newOwner ? oldOwner : undefined;
    if (newOwner === undefined && losing === undefined) continue;

    let rowVersion = (previous?.rowVersion ?? 0) + 1;
    if (newOwner !== undefined) rowVersion = Math.max(rowVersion, seqOf(newOwner));
    if (losing !== undefined) rowVersion = Math.max(rowVersion, seqOf(losing));

    if (newOwner !== undefined) {
      effects.get(newOwner)!.push({
        table: row.table,
        pk: row.pk,
        op: 'upsert',
        rowVersion,
        row: row.current!.row,
        ...(row.tempKey === undefined ? {} : { tempKey: row.tempKey }),
      });
    }
    if (losing !== undefined) {
      effects
        .get(losing)!
        .push({ table: row.table, pk: row.pk, op: 'delete', rowVersion, row: null });
    }
    rowStates.push({
      table: row.table,
      pk: row.pk,
      state:
        newOwner !== undefined
          ? { owner: newOwner, rowVersion, deleted: false }
          : { owner: losing!, rowVersion, deleted: true },
    });
  }

  const bundles = [...seqs].map(([userId, bundleSeq]) => ({
    userId,
    bundleSeq,
    effects: orderByRelations(graph, effects.get(userId)!),
  }));
  return { bundles, rowStates };
}

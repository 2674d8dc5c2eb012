/**
 * What settling a frozen change does to its row, decided from what the file holds: the local
 * (business) row and the pending entry stacked on the change. Pure; `settleFrozenChange` reads
 * the inputs and writes the result, and the conflict decision uses it for `adopt-server`.
 *
 * @module
 */
import { withCountersRebased, type Row, type Table } from '@ferry/protocol';
import type { FrozenChange, PendingEntry, RowState } from '../local/metadata.js';
import { pinOnSettlement, pinnedTo, type Pin, type Settlement } from '../local/pending-pin.js';
import { rebaseRow } from './rebase-row.js';

/** What happens to the local (business) row. */
export type LocalRowEffect =
  | { readonly kind: 'keep' }
  | { readonly kind: 'write'; readonly row: Row }
  | { readonly kind: 'delete' };

/** The local row's effect and the pending entry as it must be written (null: none, untouched). */
export interface SettledRow {
  readonly localRow: LocalRowEffect;
  readonly pending: PendingEntry | null;
}

/** What the file holds of a settled change's row. */
export interface SettledRowFacts {
  /** The row's server state (`ferry_rows`), as the settlement recorded it. */
  readonly serverState: RowState | undefined;
  /** The pending edit stacked on the change, if any. */
  readonly pending: PendingEntry | undefined;
  /** The local row, when a pending edit other than a delete is stacked (else null). */
  readonly current: Row | null;
}

/**
 * The row after its frozen change settled:
 * - no pending edit: the local row returns to its server state (deleted when there is none);
 * - a pending edit: the local row keeps the columns the edit changed and takes the rest from the
 *   server state (`rebaseRow`, on the change's row as the edit's base), and the entry gets its
 *   pin from how the change settled (`pinOnSettlement`, pin invariant 4); an insert stacked on a
 *   change the server adopted over a row it has becomes an update; an edit stacked on an upsert
 *   that committed but left the row deleted is pinned to no base, so it meets the delete as a
 *   conflict.
 */
export function decideSettledRow(
  table: Table,
  change: FrozenChange,
  facts: SettledRowFacts,
  settlement: Settlement,
): SettledRow {
  const { serverState, pending, current } = facts;
  if (!pending) {
    return {
      localRow: serverState?.base ? { kind: 'write', row: serverState.base } : { kind: 'delete' },
      pending: null,
    };
  }
  const op =
    settlement.kind === 'adopted' && pending.op === 'I' && change.baseVersion !== null
      ? 'U'
      : pending.op;
  // Our upsert committed, acknowledged in order, and the row is gone all the same: a delete the
  // app never saw (a cascade, on the server, of a parent the same bundle deleted, through a
  // reference a commit it did not know had set; a change that writes only counters commits on
  // such a version). The edit stacked on it meets that delete as a conflict, as it would a remote
  // delete, instead of re-creating the row as if it had seen it deleted. (Acknowledged late, the
  // file's state may be a later remote effect: the late pin already makes the edit meet it.)
  const goneUnseen =
    change.op === 'upsert' &&
    settlement.kind === 'ack' &&
    pending.op !== 'D' &&
    serverState?.deleted === true;
  const pin = goneUnseen ? pinnedTo(null, null) : pinOnSettlement(settlement);
  const localRow: LocalRowEffect =
    pending.op !== 'D' && serverState?.base && current
      ? { kind: 'write', row: settledLocalRow(table, current, change.row, serverState.base, pin) }
      : { kind: 'keep' };
  return { localRow, pending: { ...pending, op, ...pin } };
}

/**
 * The local row of a stacked edit once the change under it settled: rebased onto the row's
 * server state (`rebaseRow`), but for its counters when the edit is pinned to another base. A
 * pinned edit pushes what its counters hold minus the pin's values, so they must be the pin's
 * values plus what the edit added; rebased onto a newer state, a peer's increments between the
 * pin and that state would go out again as this device's (counted twice).
 */
function settledLocalRow(
  table: Table,
  current: Row,
  previous: Row | null,
  next: Row,
  pin: Pin,
): Row {
  const row = rebaseRow(table, current, previous, next);
  if (!pin.pinned || pin.pinBase === null || previous === null) return row;
  return withCountersRebased(table, row, next, pin.pinBase);
}

import { isCounter, rebasedCounter, valuesEqual, type Row, type Table } from '@ferry/protocol';

/**
 * Moves a local change onto a new base: the columns the local layer changed (where `local`
 * differs from `previous`, the row it was made on) keep their local values; every other column,
 * and the primary key, owner and server-derived columns, take `next`. A counter takes `next` plus
 * what the local layer added to `previous` (`rebasedCounter`).
 *
 * Used when the change underneath pending edits is settled: our in-flight bundle committed, or
 * its row was resolved by adopting the server.
 */
export function rebaseRow(table: Table, local: Row, previous: Row | null, next: Row): Row {
  const out: Row = {};
  for (const column of table.columns) {
    const name = column.name;
    const fromNext = next[name] === undefined ? null : next[name];
    if (column.isPrimaryKey || column.isOwner || column.serverDerived !== undefined) {
      out[name] = fromNext;
    } else if (isCounter(column) && previous !== null && local[name] !== undefined) {
      // What the local layer added rides on the new base (a peer's increments are kept).
      out[name] = rebasedCounter(local[name], previous[name], next[name]);
    } else if (previous === null || !valuesEqual(local[name], previous[name])) {
      out[name] = local[name] === undefined ? null : local[name];
    } else {
      out[name] = fromNext;
    }
  }
  return out;
}

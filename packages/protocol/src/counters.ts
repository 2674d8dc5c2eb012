/**
 * Counter columns (`merge: 'counter'`): what a device pushes for them and what their value
 * becomes when a change is moved onto another base. Pure; one definition for the client's
 * freeze, its rebases and merges, and the server's checks.
 *
 * A counter's value on a device is always "a server value plus what this device added since":
 * 1. the delta a device pushes is its value minus the value of the base it was made on;
 * 2. the server adds the delta to its current value (never takes the device's value);
 * 3. moving a change onto a newer server row keeps its delta: new base plus (local − old base).
 * A null counts as 0 on every side.
 *
 * @module
 */
import type { Column, Row, Table } from './schema.js';

/** Whether the column is a counter. */
export function isCounter(column: Column): boolean {
  return column.merge === 'counter';
}

/** A counter's value as a number (null and absent count as 0). */
export function counterValue(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/**
 * What a device added to a counter since its base (rule 1). Computed on values that came from
 * one column of one type, so an integer counter gives an integer delta.
 *
 * @example
 * counterDelta(12, 10); // 2
 * counterDelta(null, 3); // -3
 */
export function counterDelta(value: unknown, base: unknown): number {
  return counterValue(value) - counterValue(base);
}

/**
 * The `deltas` of a pushed upsert: for each counter among `columns` (the columns it changed
 * against `base`), what the device added. Undefined when it changed no counter.
 *
 * @example
 * // stock is a counter; the device sold 2 and renamed the item
 * counterDeltas(items, { stock: 8, name: 'b' }, { stock: 10, name: 'a' }, ['stock', 'name']);
 * // { stock: -2 }
 */
export function counterDeltas(
  table: Table,
  row: Row,
  base: Row,
  columns: readonly string[],
): Record<string, number> | undefined {
  let deltas: Record<string, number> | undefined;
  for (const name of columns) {
    const column = table.column(name);
    if (column === undefined || !isCounter(column)) continue;
    (deltas ??= {})[name] = counterDelta(row[name], base[name]);
  }
  return deltas;
}

/**
 * A counter moved onto a newer server value (rule 3): `next` plus what `local` added to
 * `previous`, the value it was made on.
 *
 * @example
 * rebasedCounter(12, 10, 15); // 17: this device's +2 on top of the server's 15
 */
export function rebasedCounter(local: unknown, previous: unknown, next: unknown): number {
  return counterValue(next) + counterDelta(local, previous);
}

/**
 * `local` with each of its counters moved from `previous` (the row it was made on) onto `next`
 * (rule 3); other columns as they are. Without `previous` nothing is known of what the device
 * added: the row is returned as it is.
 */
export function withCountersRebased(
  table: Table,
  local: Row,
  previous: Row | null,
  next: Row,
): Row {
  if (previous === null) return local;
  let out: Row | undefined;
  for (const column of table.columns) {
    if (!isCounter(column) || !(column.name in local)) continue;
    (out ??= { ...local })[column.name] = rebasedCounter(
      local[column.name],
      previous[column.name],
      next[column.name],
    );
  }
  return out ?? local;
}

import type { WireRow } from '@ferry/protocol';
import type { NormalizedChange } from './validate-changes.js';

/**
 * What a store writes for a decided upsert: the row, where each counter the change carries a
 * delta for holds the delta, and `adds`, those counters (in table order), which the store's
 * statement writes as the current value plus the given one. `decidePush` keeps deltas only on
 * changes of live rows, so a delta never becomes an inserted value.
 *
 * @example
 * // stock is a counter; the device sold 2
 * counterWrite({ …, row: { id, stock: 8 }, deltas: { stock: -2 } });
 * // { row: { id, stock: -2 }, adds: ['stock'] }  →  SET stock = COALESCE(stock, 0) + -2
 */
export function counterWrite(change: NormalizedChange): {
  readonly row: WireRow;
  readonly adds: readonly string[];
} {
  const { deltas } = change;
  if (deltas === undefined) return { row: change.row!, adds: NO_ADDS };
  const adds = change.table.columns.filter((c) => Object.hasOwn(deltas, c.name)).map((c) => c.name);
  return { row: { ...change.row!, ...deltas }, adds };
}

const NO_ADDS: readonly string[] = [];

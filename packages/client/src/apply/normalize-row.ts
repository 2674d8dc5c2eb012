import type { Row } from '@ferry/protocol';
import type { TableCodec } from '../local/table-codec.js';

/** A row with every column of the table (missing ones null), as stored in `base` and written locally. */
export function normalizeRow(codec: Pick<TableCodec, 'table'>, row: Row): Row {
  const out: Row = {};
  for (const column of codec.table.columns) {
    const value = row[column.name];
    out[column.name] = value === undefined ? null : value;
  }
  return out;
}

/**
 * A row to write locally, whole: the columns `given` carries, and for the others the local row's
 * values, or their declared defaults when the row is gone locally. A row may carry only part of
 * the columns: an app resolving a conflict with what it edited, a custom resolver's, a local row
 * kept from before the app's update added a column (a conflict, the bundle in flight). Pure.
 */
export function completedRow(codec: Pick<TableCodec, 'table'>, local: Row | null, given: Row): Row {
  const row: Row = {};
  for (const column of codec.table.columns) {
    row[column.name] =
      column.name in given
        ? given[column.name]!
        : local !== null
          ? (local[column.name] ?? null)
          : (column.default ?? null);
  }
  return row;
}

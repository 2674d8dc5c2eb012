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

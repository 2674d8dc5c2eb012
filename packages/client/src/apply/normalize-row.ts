import type { Row } from '@ferry/protocol';
import type { TableCodec } from '../local/table-codec.js';

/** The server's row with every column of the table (missing ones null), as stored in `base`. */
export function normalizeRow(codec: TableCodec, row: Row): Row {
  const out: Row = {};
  for (const column of codec.table.columns) {
    const value = row[column.name];
    out[column.name] = value === undefined ? null : value;
  }
  return out;
}

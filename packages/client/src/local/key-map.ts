/**
 * Reading `ferry_key_map` (see `remap-keys.ts`): a temporary key a row of a table whose keys the
 * server assigns was inserted under, and the server's key it took.
 *
 * @module
 */
import type { PrimaryKey } from '@ferry/protocol';
import type { SqlValue } from '../driver/sqlite-driver.js';
import type { Executor } from './metadata.js';
import { quoteIdent } from './local-schema-sql.js';
import type { TableCodec } from './table-codec.js';

/**
 * The `WHERE` of a write naming a row by `pk`: on a table whose keys the server assigns, a
 * temporary key the row had reaches it under its server key.
 */
export function keyMatch(codec: TableCodec, pk: PrimaryKey): { sql: string; params: SqlValue[] } {
  const column = quoteIdent(codec.table.primaryKey);
  const key = codec.encodePk(pk);
  if (!codec.table.serverKeys) return { sql: `${column} = ?`, params: [key] };
  return {
    sql: `${column} = coalesce((SELECT pk FROM ferry_key_map WHERE tbl = ? AND temp = ?), ?)`,
    params: [codec.table.name, key, key],
  };
}

/** The server's key of a row inserted under temporary key `key`, else `key` itself. */
export async function currentKey(
  db: Executor,
  codec: TableCodec,
  key: PrimaryKey,
): Promise<PrimaryKey> {
  if (!codec.table.serverKeys) return key;
  const [mapped] = await db.all<{ pk: PrimaryKey }>(
    'SELECT pk FROM ferry_key_map WHERE tbl = ? AND temp = ?',
    [codec.table.name, codec.encodePk(key)],
  );
  return mapped?.pk ?? key;
}

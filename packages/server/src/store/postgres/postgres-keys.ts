/**
 * The PostgreSQL store's keys for tables whose keys the server assigns: the key column's own
 * sequence (identity or serial), for pushed inserts, backend inserts and SQL that leaves the key
 * out alike.
 *
 * @module
 */
import { FerryError, type Table } from '@ferry/protocol';
import { named } from './named-query.js';
import type { StoreSql } from './postgres-sql.js';
import type { WriteTxClient } from './postgres-write-tx.js';

/** Takes the next `count` values of `table`'s key sequence, on the caller's transaction. */
export async function allocatePgKeys(
  client: WriteTxClient,
  sql: StoreSql,
  table: Table,
  count: number,
): Promise<number[]> {
  const { rows } = await client.query(named(sql.tables.get(table.name)!.allocateKeys, [count]));
  if (rows.some((row) => row.key === null)) {
    throw new FerryError(
      'internal',
      `${table.name}.${table.primaryKey} has no sequence (an identity or serial column) to assign keys from`,
    );
  }
  return rows.map((row) => Number(row.key));
}

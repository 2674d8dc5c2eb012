import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import type { Executor } from './metadata.js';
import type { TableCodec } from './table-codec.js';

/** The local rows of many keys, by table and encoded primary key (a row missing locally is absent). */
export type LocalRows = ReadonlyMap<string, ReadonlyMap<unknown, SqlRow>>;

/**
 * Reads the local (business) rows of `keys` (`tbl` and an encoded primary key each) with one
 * query per table; keys of tables `codecs` lacks are skipped.
 */
export async function readLocalRows(
  tx: Executor,
  codecs: ReadonlyMap<string, TableCodec>,
  keys: readonly { readonly tbl: string; readonly pk: SqlValue }[],
): Promise<LocalRows> {
  const byTable = new Map<string, SqlValue[]>();
  for (const key of keys) {
    if (!codecs.has(key.tbl)) continue;
    let pks = byTable.get(key.tbl);
    if (!pks) byTable.set(key.tbl, (pks = []));
    pks.push(key.pk);
  }
  const rows = new Map<string, Map<unknown, SqlRow>>();
  for (const [tbl, pks] of byTable) {
    const codec = codecs.get(tbl)!;
    const primaryKey = codec.table.primaryKey;
    const found = await tx.all(codec.selectManySql, [JSON.stringify(pks)]);
    rows.set(tbl, new Map(found.map((row) => [row[primaryKey], row])));
  }
  return rows;
}

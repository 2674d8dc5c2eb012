/**
 * The embedded store's keys for tables whose keys the server assigns: a counter per table in
 * `ferry_keys`, for pushed inserts and backend inserts alike.
 *
 * @module
 */
import type { Table } from '@ferry/protocol';
import type { Db } from './sqlite-statements.js';

/**
 * Takes the next `count` keys of `table`, in order: past every key the table has, every key a
 * row state remembers (tombstones too), every key handed out before, and the table's
 * AUTOINCREMENT sequence (keys SQL that left the key out was given, even of rows since
 * deleted), so a key is never given twice. Each max is one index probe (the table's keys are all
 * integers: no filter that would make it a scan). Runs on the caller's write transaction.
 */
export function allocateSqliteKeys(db: Db, table: Table, count: number): number[] {
  const t = `"${table.name}"`;
  const pk = `"${table.primaryKey}"`;
  const { last } = db
    .prepare(
      `INSERT INTO ferry_keys (table_name, last)
       SELECT @t, max(coalesce((SELECT max(${pk}) FROM ${t}), 0),
         coalesce((SELECT max(pk) FROM ferry_rows WHERE table_name = @t), 0),
         ${sequenceOf(db)}) + @n
       ON CONFLICT (table_name) DO UPDATE SET last = max(ferry_keys.last,
         coalesce((SELECT max(${pk}) FROM ${t}), 0), ${sequenceOf(db)}) + @n
       RETURNING last`,
    )
    .get({ t: table.name, n: count }) as { last: number };
  return Array.from({ length: count }, (_, i) => last - count + 1 + i);
}

/**
 * The AUTOINCREMENT sequence of table `@t` as SQL (0 without one: `sqlite_sequence` exists once
 * the file has any AUTOINCREMENT table, and a table adopted or made before has none).
 */
function sequenceOf(db: Db): string {
  const exists = db
    .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'sqlite_sequence'")
    .get();
  return exists ? 'coalesce((SELECT seq FROM sqlite_sequence WHERE name = @t), 0)' : '0';
}

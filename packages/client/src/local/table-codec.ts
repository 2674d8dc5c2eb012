import { fromSqliteValue, toSqliteValue, type Row, type Schema, type Table } from '@ferry/protocol';
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import { quoteIdent } from './local-schema-sql.js';

/**
 * How one synced table is read and written locally: the SQL texts (prepared once by the driver's
 * cache) and the conversion between wire rows and SQLite values.
 */
export interface TableCodec {
  readonly table: Table;
  /** `SELECT <all columns> FROM t WHERE pk = ?` */
  readonly selectSql: string;
  /**
   * `SELECT <all columns> FROM t WHERE pk IN (…)` for the primary keys given as one JSON array
   * parameter (rows of many keys in one statement).
   */
  readonly selectManySql: string;
  /** `INSERT INTO t (<all columns>) VALUES (…)` (a local insert). */
  readonly insertSql: string;
  /** Insert or replace every column of a row by its primary key (applying server data). */
  readonly upsertSql: string;
  /** `INSERT INTO t (<all columns>)`: the head of a multi-row insert (see `insertMany`). */
  readonly insertHeadSql: string;
  /** The `ON CONFLICT` clause of {@link upsertSql}, for a multi-row upsert. */
  readonly upsertConflictSql: string;
  /** `DELETE FROM t WHERE pk = ?` */
  readonly deleteSql: string;
  /** `DELETE FROM t WHERE pk IN (…)`, the keys given as one JSON array parameter. */
  readonly deleteManySql: string;
  /** Wire row to parameters in column order (missing columns are null). */
  encode(row: Row): SqlValue[];
  /** A SQLite result row to a wire row (every column). */
  decode(row: SqlRow): Row;
  /** The primary key as SQLite stores it (integers stay numbers, everything else a string). */
  encodePk(pk: unknown): SqlValue;
  /**
   * The row as pushed: every column it carries but server-derived ones and the owner column (a
   * column it does not carry is left out, not sent as null).
   */
  pushRow(row: Row): Row;
  /** `pushRow(decode(row))` in one step: the pushed wire row of a SQLite result row. */
  pushRowOf(row: SqlRow): Row;
}

/** Codecs of every table of a schema, by table name. */
export function createTableCodecs(schema: Schema): ReadonlyMap<string, TableCodec> {
  return new Map(schema.tables.map((table) => [table.name, createTableCodec(table)]));
}

/** The codec of one table. */
export function createTableCodec(table: Table): TableCodec {
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.primaryKey);
  const names = table.columns.map((c) => quoteIdent(c.name));
  const placeholders = table.columns.map(() => '?').join(', ');
  const updates = table.columns
    .filter((c) => !c.isPrimaryKey)
    .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
  const pkColumn = table.column(table.primaryKey)!;
  const pushColumns = table.columns.filter((c) => c.serverDerived === undefined && !c.isOwner);
  const insertHeadSql = `INSERT INTO ${t} (${names.join(', ')})`;
  const upsertConflictSql =
    `ON CONFLICT (${pk}) DO ` +
    (updates.length > 0 ? `UPDATE SET ${updates.join(', ')}` : 'NOTHING');
  return {
    table,
    selectSql: `SELECT ${names.join(', ')} FROM ${t} WHERE ${pk} = ?`,
    selectManySql: `SELECT ${names.join(', ')} FROM ${t} WHERE ${pk} IN (SELECT value FROM json_each(?))`,
    insertSql: `${insertHeadSql} VALUES (${placeholders})`,
    upsertSql: `${insertHeadSql} VALUES (${placeholders}) ${upsertConflictSql}`,
    insertHeadSql,
    upsertConflictSql,
    deleteSql: `DELETE FROM ${t} WHERE ${pk} = ?`,
    deleteManySql: `DELETE FROM ${t} WHERE ${pk} IN (SELECT value FROM json_each(?))`,
    encode(row) {
      return table.columns.map((c) => toSqliteValue(c.type, row[c.name]) as SqlValue);
    },
    decode(row) {
      const out: Row = {};
      for (const c of table.columns) out[c.name] = fromSqliteValue(c.type, row[c.name]);
      return out;
    },
    encodePk(value) {
      if (pkColumn.type === 'integer')
        return typeof value === 'string' ? Number(value) : (value as number);
      return typeof value === 'string' ? value : String(value);
    },
    pushRow(row) {
      // A column the row does not carry stays out: the device never wrote it (a row made before
      // its app's update added the column), and a push must not reset it.
      const out: Row = {};
      for (const c of pushColumns) {
        const value = row[c.name];
        if (value !== undefined) out[c.name] = value;
      }
      return out;
    },
    pushRowOf(row) {
      const out: Row = {};
      for (const c of pushColumns) out[c.name] = fromSqliteValue(c.type, row[c.name]);
      return out;
    },
  };
}

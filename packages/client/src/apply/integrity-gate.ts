import type { PrimaryKey, Reference, Schema } from '@ferry/protocol';
import type { SqlRow } from '../driver/sqlite-driver.js';
import { noLocalIntentSql, type Executor } from '../local/metadata.js';
import { quoteIdent, quoteLiteral } from '../local/local-schema-sql.js';
import { TOUCHED_TABLE } from '../local/touched-rows.js';

/** A reference that points at a row that does not exist locally. */
export interface IntegrityViolation {
  /** The child table and row holding the reference. */
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly column: string;
  /** The parent table and the key the child points at. */
  readonly parentTable: string;
  readonly parentPk: PrimaryKey;
  /** The reference is not-null: the page is refused. Otherwise it is only a warning. */
  readonly required: boolean;
}

/** Which tables a page touched, and how. */
export interface TouchedTables {
  /** Tables with rows upserted by the page. */
  readonly upserted: ReadonlySet<string>;
  /** Tables with rows deleted by the page. */
  readonly deleted: ReadonlySet<string>;
}

/** One scoped check of the integrity gate. */
export interface IntegrityQuery {
  readonly reference: Reference;
  /** `child`: upserted children whose parent is missing; `parent`: children of deleted parents. */
  readonly kind: 'child' | 'parent';
  /** Returns rows `{pk, ref}`: the child's key and the dangling parent key. */
  readonly sql: string;
  /** The table of touched rows it joins (alias `t`), read in rowid ranges. */
  readonly touchedTable: string;
}

/**
 * Touched rows one statement of the gate reads: a hydration touches every row, and one join
 * over 100,000 of them held the event loop for about 150 ms; ranges of this many rowids keep
 * each statement short, and the statements between them give the loop its turns.
 */
export const GATE_CHUNK_ROWS = 10_000;

/**
 * Builds the integrity gate's queries for a page: only references that the page can have
 * broken, and each query joins the touched rows (`touchedTable`, columns `tbl, pk, op` with op
 * `u`/`d`) instead of scanning whole tables. Rows with local intent are left out on both ends:
 * a child the app changed locally, or a parent the app deleted locally, is not a server
 * inconsistency (the push settles it).
 */
export function buildIntegrityQueries(
  schema: Schema,
  touched: TouchedTables,
  touchedTable = TOUCHED_TABLE,
): IntegrityQuery[] {
  const queries: IntegrityQuery[] = [];
  for (const table of schema.tables) {
    for (const reference of table.references) {
      const child = quoteIdent(reference.childTable);
      const childPk = quoteIdent(schema.requireTable(reference.childTable).primaryKey);
      const column = quoteIdent(reference.column);
      const parent = quoteIdent(reference.parentTable);
      const parentPk = quoteIdent(reference.parentColumn);
      const childName = quoteLiteral(reference.childTable);
      const parentName = quoteLiteral(reference.parentTable);
      const parentMissing = `NOT EXISTS (SELECT 1 FROM ${parent} p WHERE p.${parentPk} = c.${column})`;
      if (touched.upserted.has(reference.childTable)) {
        queries.push({
          reference,
          kind: 'child',
          touchedTable,
          sql:
            `SELECT t.pk AS pk, c.${column} AS ref FROM ${touchedTable} t ` +
            `JOIN ${child} c ON c.${childPk} = t.pk ` +
            `WHERE t.tbl = ${childName} AND t.op = 'u' AND c.${column} IS NOT NULL AND ${parentMissing} ` +
            `AND ${noLocalIntentSql(parentName, `c.${column}`)} ` +
            `AND ${noLocalIntentSql(childName, 't.pk')}`,
        });
      }
      if (touched.deleted.has(reference.parentTable)) {
        queries.push({
          reference,
          kind: 'parent',
          touchedTable,
          sql:
            `SELECT c.${childPk} AS pk, c.${column} AS ref FROM ${touchedTable} t ` +
            `JOIN ${child} c ON c.${column} = t.pk ` +
            `WHERE t.tbl = ${parentName} AND t.op = 'd' AND ${parentMissing} ` +
            `AND ${noLocalIntentSql(childName, `c.${childPk}`)}`,
        });
      }
    }
  }
  return queries;
}

/**
 * Runs the gate's queries and lists every dangling reference found (each once). Each query runs
 * over the touched rows in rowid ranges of `chunkRows` (see {@link GATE_CHUNK_ROWS}).
 */
export async function findIntegrityViolations(
  tx: Executor,
  queries: readonly IntegrityQuery[],
  chunkRows: number = GATE_CHUNK_ROWS,
): Promise<IntegrityViolation[]> {
  const seen = new Set<string>();
  const violations: IntegrityViolation[] = [];
  const lastRowids = new Map<string, number>();
  for (const query of queries) {
    let last = lastRowids.get(query.touchedTable);
    if (last === undefined) {
      const top = await tx.all<{ hi: number | null }>(
        `SELECT max(rowid) AS hi FROM ${query.touchedTable}`,
      );
      last = top[0]?.hi ?? 0;
      lastRowids.set(query.touchedTable, last);
    }
    const rows: (SqlRow & { pk: PrimaryKey; ref: PrimaryKey })[] = [];
    for (let from = 0; from < last; from += chunkRows) {
      rows.push(
        ...(await tx.all<SqlRow & { pk: PrimaryKey; ref: PrimaryKey }>(
          `${query.sql} AND t.rowid > ? AND t.rowid <= ?`,
          [from, from + chunkRows],
        )),
      );
    }
    for (const row of rows) {
      const key = `${query.reference.childTable}\u0000${query.reference.column}\u0000${String(row.pk)}`;
      if (seen.has(key)) continue;
      seen.add(key);
      violations.push({
        table: query.reference.childTable,
        pk: row.pk,
        column: query.reference.column,
        parentTable: query.reference.parentTable,
        parentPk: row.ref,
        required: query.reference.required,
      });
    }
  }
  return violations;
}

/**
 * The I/O shell of `statement-tables.ts`: asks SQLite for a statement's program (`EXPLAIN`) and
 * for the root pages of `sqlite_schema`, and remembers the answer per SQL text (the tables a
 * text names do not change while the schema stays; the app's schema changes with a new client).
 *
 * @module
 */
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import {
  tablesOfPlan,
  type PlanStep,
  type SchemaObject,
  type StatementTables,
} from './statement-tables.js';

/** The part of the database the reader uses. */
export interface ExplainingDatabase {
  all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
}

/**
 * A reader of statements' tables with a cache of `limit` texts (oldest dropped first). `params`
 * are the statement's own (a driver may refuse to explain a statement with unbound parameters);
 * the tables do not depend on them.
 */
export function statementTablesReader(
  db: ExplainingDatabase,
  limit = 500,
): (sql: string, params?: readonly SqlValue[]) => Promise<StatementTables> {
  const cache = new Map<string, StatementTables>();
  return async (sql, params = []) => {
    const cached = cache.get(sql);
    if (cached) return cached;
    const plan = await db.all<PlanStep & SqlRow>(`EXPLAIN ${sql}`, params);
    const objects = await db.all<SchemaObject & SqlRow>(
      'SELECT rootpage, tbl_name FROM sqlite_schema WHERE rootpage > 0',
    );
    const tables = tablesOfPlan(plan, objects);
    if (cache.size >= limit) cache.delete(cache.keys().next().value!);
    cache.set(sql, tables);
    return tables;
  };
}

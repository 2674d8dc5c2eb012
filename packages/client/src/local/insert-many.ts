import type { SqlValue } from '../driver/sqlite-driver.js';
import type { Executor } from './metadata.js';

/**
 * At most this many parameters go into one statement: SQLite's limit before 3.32, so that any
 * build (a wasm one included) takes the statements.
 */
const MAX_PARAMS = 999;

/**
 * Runs `<head> VALUES (…), (…), … <tail>` for `rows` (each `width` values) in as few statements
 * as the parameter limit allows, in order, and returns the rows changed. `head` is e.g.
 * `INSERT INTO t (a, b)`, `tail` e.g. an `ON CONFLICT` clause. Statement texts come in a few
 * sizes only (the full chunk, then powers of two), so the driver's statement cache keeps them.
 *
 * Rows go in one after the other as in single-row statements: a later row sees an earlier
 * row's effect (an upsert of the same key twice applies both, in order).
 */
export async function insertMany(
  tx: Executor,
  head: string,
  width: number,
  rows: readonly (readonly SqlValue[])[],
  tail = '',
): Promise<number> {
  const perStatement = Math.max(1, Math.floor(MAX_PARAMS / width));
  let changes = 0;
  let next = 0;
  while (next < rows.length) {
    const left = rows.length - next;
    const take = left >= perStatement ? perStatement : 2 ** Math.floor(Math.log2(left));
    const params: SqlValue[] = [];
    for (let i = next; i < next + take; i++) {
      const row = rows[i]!;
      for (let k = 0; k < width; k++) params.push(row[k] ?? null);
    }
    changes += (await tx.run(valuesSql(head, width, take, tail), params)).changes;
    next += take;
  }
  return changes;
}

const texts = new Map<string, string>();

function valuesSql(head: string, width: number, count: number, tail: string): string {
  const key = `${count}\u0000${width}\u0000${head}\u0000${tail}`;
  let sql = texts.get(key);
  if (sql === undefined) {
    const tuple = `(${new Array<string>(width).fill('?').join(', ')})`;
    sql = `${head} VALUES ${new Array<string>(count).fill(tuple).join(', ')}${tail ? ` ${tail}` : ''}`;
    if (texts.size > 1_000) texts.clear();
    texts.set(key, sql);
  }
  return sql;
}

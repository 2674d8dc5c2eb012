import Database from 'better-sqlite3';

/**
 * Every row of every table of a SQLite store file (business tables and sync metadata), as one
 * comparable string: proves that a rejected request changed nothing.
 */
export function dumpState(path: string): string {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const tables = db
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
      )
      .pluck()
      .all() as string[];
    const dump: Record<string, unknown[]> = {};
    for (const table of tables) {
      dump[table] = db.prepare(`SELECT * FROM "${table}" ORDER BY 1, 2`).all();
    }
    return JSON.stringify(dump);
  } finally {
    db.close();
  }
}

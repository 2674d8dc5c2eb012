import Database from 'better-sqlite3';
import { betterSqlite3Driver } from '../better-sqlite3.js';
import type { SqliteDriver } from '../../driver/sqlite-driver.js';

/** An in-memory better-sqlite3 driver that counts the statements it is asked to run. */
export function countingDriver(): { driver: SqliteDriver; statements: () => number } {
  const raw = betterSqlite3Driver(new Database(':memory:'));
  let statements = 0;
  const driver: SqliteDriver = {
    run: (sql, params) => (statements++, raw.run(sql, params)),
    all: (sql, params) => (statements++, raw.all(sql, params)),
    exec: (sql) => (statements++, raw.exec(sql)),
    batch: (list) => ((statements += list.length), raw.batch(list)),
    close: () => raw.close(),
  };
  return { driver, statements: () => statements };
}

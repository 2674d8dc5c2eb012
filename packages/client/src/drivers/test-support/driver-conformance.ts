/**
 * The conformance suite of the {@link SqliteDriver} contract, one copy for every driver: the
 * Node drivers run it in `better-sqlite3.test.ts`, the browser driver in Chromium
 * (`test/browser/`).
 */
import { describe, expect, it } from 'vitest';
import { isFerryError } from '@ferry/protocol';
import type { SqliteDriver } from '../../driver/sqlite-driver.js';

/** Declares the suite for a driver that `open` makes (a fresh database each call). */
export function describeDriverConformance(
  name: string,
  open: () => SqliteDriver | Promise<SqliteDriver>,
): void {
  describe(`SqliteDriver: ${name}`, () => {
    it('runs statements, returns rows and counts changes', async () => {
      const driver = await open();
      await driver.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
      expect(await driver.run('INSERT INTO t (v) VALUES (?), (?)', ['a', 'b'])).toEqual({
        changes: 2,
      });
      expect(await driver.all('SELECT id, v FROM t ORDER BY id')).toEqual([
        { id: 1, v: 'a' },
        { id: 2, v: 'b' },
      ]);
      expect(await driver.all('UPDATE t SET v = ?', ['c'])).toEqual([]);
      await driver.close();
    });

    it('runs a batch in one transaction and rolls all of it back on an error', async () => {
      const driver = await open();
      await driver.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
      await driver.batch([{ sql: 'INSERT INTO t (v) VALUES (?)', params: ['a'] }]);
      await expect(
        driver.batch([
          { sql: 'INSERT INTO t (v) VALUES (?)', params: ['b'] },
          { sql: 'INSERT INTO t (v) VALUES (?)', params: [null] },
        ]),
      ).rejects.toThrow(/NOT NULL/);
      expect(await driver.all('SELECT v FROM t')).toEqual([{ v: 'a' }]);
      await driver.close();
    });

    it('enforces foreign keys and rolls back a batch that breaks a deferred one', async () => {
      const driver = await open();
      await driver.exec(`CREATE TABLE p (id TEXT PRIMARY KEY);
      CREATE TABLE c (id TEXT PRIMARY KEY, p TEXT REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED);`);
      await expect(
        driver.batch([{ sql: "INSERT INTO c VALUES ('c', 'missing')" }]),
      ).rejects.toThrow(/FOREIGN KEY/);
      await driver.batch([
        { sql: "INSERT INTO c VALUES ('c', 'p')" },
        { sql: "INSERT INTO p VALUES ('p')" },
      ]);
      expect(await driver.all('SELECT count(*) AS n FROM c')).toEqual([{ n: 1 }]);
      await driver.close();
    });

    it('gives a failed statement’s SQLite error with its code, and binds blobs and big integers', async () => {
      const driver = await open();
      await driver.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL, b BLOB)');
      const error = (await driver
        .run('INSERT INTO t (v) VALUES (NULL)')
        .catch((e: unknown) => e)) as {
        code?: unknown;
      };
      expect(error).toBeInstanceOf(Error);
      expect(error.code).toBe('SQLITE_CONSTRAINT_NOTNULL');
      await driver.run('INSERT INTO t (id, v, b) VALUES (?, ?, ?)', [
        2n ** 40n,
        'x',
        new Uint8Array([1, 2, 3]),
      ]);
      const [row] = await driver.all<{ id: number; b: Uint8Array }>('SELECT id, b FROM t');
      expect(row!.id).toBe(2 ** 40);
      expect([...row!.b]).toEqual([1, 2, 3]);
      await driver.close();
    });

    it('rejects every call after close', async () => {
      const driver = await open();
      await driver.close();
      await driver.close();
      const error = await driver.run('SELECT 1').catch((e: unknown) => e);
      expect(isFerryError(error, 'closed')).toBe(true);
    });
  });
}

import Database from 'better-sqlite3';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { isFerryError } from '@ferry/protocol';
import { SerialDatabase } from '../driver/serial-database.js';
import type { SqliteDriver } from '../driver/sqlite-driver.js';
import { betterSqlite3Driver } from './better-sqlite3.js';
import { betterSqlite3WorkerDriver } from './better-sqlite3-worker.js';
import { describeDriverConformance } from './test-support/driver-conformance.js';

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-driver-'));
  dirs.push(dir);
  return join(dir, 'db.sqlite');
}

// One conformance suite for every driver (the browser driver's runs in Chromium: test/browser/).
const drivers: [string, () => SqliteDriver][] = [
  ['better-sqlite3 opened from a path', () => betterSqlite3Driver(tempFile())],
  ['better-sqlite3 on an open Database', () => betterSqlite3Driver(new Database(tempFile()))],
  ['better-sqlite3 in a worker thread', () => betterSqlite3WorkerDriver(tempFile())],
];

for (const [name, open] of drivers) describeDriverConformance(name, open);

describe('betterSqlite3Driver close', () => {
  it('closes the file it opened itself: the last connection goes and SQLite removes the WAL', async () => {
    const path = tempFile();
    const driver = betterSqlite3Driver(path);
    await driver.exec('CREATE TABLE t (v TEXT)');
    await driver.run("INSERT INTO t VALUES ('a')");
    expect(existsSync(`${path}-wal`)).toBe(true);
    await driver.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('leaves a Database it was given open for its owner, and rejects calls of its own', async () => {
    const db = new Database(tempFile());
    const driver = betterSqlite3Driver(db);
    await driver.exec('CREATE TABLE t (v TEXT)');
    await driver.close();
    expect(db.open).toBe(true);
    expect(db.prepare('SELECT count(*) AS n FROM t').get()).toEqual({ n: 0 });
    const error = await driver.all('SELECT 1').catch((e: unknown) => e);
    expect(isFerryError(error, 'closed')).toBe(true);
    db.close();
  });
});

describe('betterSqlite3WorkerDriver', () => {
  it('closes the file and ends its thread on close', async () => {
    const path = tempFile();
    const driver = betterSqlite3WorkerDriver(path);
    await driver.exec('CREATE TABLE t (v TEXT)');
    await driver.run("INSERT INTO t VALUES ('a')");
    expect(existsSync(`${path}-wal`)).toBe(true);
    await driver.close();
    expect(existsSync(`${path}-wal`)).toBe(false);
  });

  it('keeps call order across the thread: a transaction opened by run spans the calls after it', async () => {
    const driver = betterSqlite3WorkerDriver(tempFile());
    await driver.exec('CREATE TABLE t (v INTEGER)');
    // Not awaited one by one: the calls are queued on the thread in the order they were made.
    const calls = [
      driver.run('BEGIN IMMEDIATE'),
      ...Array.from({ length: 50 }, (_, i) => driver.run('INSERT INTO t VALUES (?)', [i])),
      driver.run('ROLLBACK'),
    ];
    await Promise.all(calls);
    expect(await driver.all('SELECT count(*) AS n FROM t')).toEqual([{ n: 0 }]);
    await driver.close();
  });

  it('rejects every call with store_unavailable when its thread cannot open the file', async () => {
    const driver = betterSqlite3WorkerDriver(join(tempFile(), 'no', 'such', 'dir', 'db.sqlite'));
    const error = await driver.all('SELECT 1').catch((e: unknown) => e);
    expect(isFerryError(error, 'store_unavailable')).toBe(true);
    const later = await driver.run('SELECT 1').catch((e: unknown) => e);
    expect(isFerryError(later, 'store_unavailable')).toBe(true);
    await driver.close().catch(() => undefined);
  });
});

describe('SerialDatabase', () => {
  it('never lets a statement into another caller’s open transaction', async () => {
    const db = new SerialDatabase(betterSqlite3Driver(tempFile()));
    await db.exec('CREATE TABLE t (v TEXT)');
    const order: string[] = [];
    const tx = db.transaction(async (t) => {
      await t.run("INSERT INTO t VALUES ('in-tx')");
      order.push('tx wrote');
      await new Promise((resolve) => setTimeout(resolve, 20));
      throw new Error('roll back');
    });
    const outside = db
      .run("INSERT INTO t VALUES ('outside')")
      .then(() => order.push('outside wrote'));
    await expect(tx).rejects.toThrow('roll back');
    await outside;
    expect(order).toEqual(['tx wrote', 'outside wrote']);
    expect(await db.all('SELECT v FROM t')).toEqual([{ v: 'outside' }]);
    await db.close();
  });

  it('restores foreign keys after a transaction that turned them off', async () => {
    const db = new SerialDatabase(betterSqlite3Driver(tempFile()));
    await db.transaction(
      async (tx) => {
        expect(await tx.all('PRAGMA foreign_keys')).toEqual([{ foreign_keys: 0 }]);
      },
      { foreignKeysOff: true },
    );
    expect(await db.all('PRAGMA foreign_keys')).toEqual([{ foreign_keys: 1 }]);
    await db.close();
  });
});

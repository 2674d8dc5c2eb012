import Database from 'better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { afterEach, describe, expect, it } from 'vitest';
import { setUpDatabase } from '../client-setup.js';
import { SerialDatabase } from '../driver/serial-database.js';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { recordCommittedGone } from './apply-store.js';

const open: SerialDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

async function fileWith(rows: [string, number, number][], committed: [string, number, boolean][]) {
  const db = new SerialDatabase(betterSqlite3Driver(new Database(':memory:')));
  open.push(db);
  await setUpDatabase(db, { schema: todoSchema });
  for (const [pk, version, deleted] of rows) {
    await db.run(
      "INSERT INTO ferry_rows (tbl, pk, version, deleted, base) VALUES ('lists', ?, ?, ?, ?)",
      [pk, version, deleted, deleted ? null : '{}'],
    );
  }
  for (const [pk, version, upserted] of committed) {
    await db.run("INSERT INTO ferry_committed (tbl, pk, version, row) VALUES ('lists', ?, ?, ?)", [
      pk,
      version,
      upserted ? '{}' : null,
    ]);
  }
  return db;
}

describe('recordCommittedGone (a late acknowledgement after a snapshot)', () => {
  it('knows the rows our bundle deleted, and those it upserted that the snapshot lacked, as deleted at our version at least', async () => {
    const db = await fileWith(
      [
        ['retired', 4, 1],
        ['newer', 14, 0],
        ['newer-tombstone', 13, 1],
        ['deleted-by-us', 2, 0],
      ],
      [
        ['retired', 11, true],
        ['never-known', 11, true],
        ['newer', 11, true],
        ['newer-tombstone', 11, true],
        ['deleted-by-us', 11, false],
      ],
    );
    await recordCommittedGone(db);
    const states = await db.all<{ pk: string; version: number; deleted: number }>(
      "SELECT pk, version, deleted FROM ferry_rows WHERE tbl = 'lists' ORDER BY pk",
    );
    expect(states).toEqual([
      { pk: 'deleted-by-us', version: 11, deleted: 1 },
      { pk: 'never-known', version: 11, deleted: 1 },
      { pk: 'newer', version: 14, deleted: 0 },
      { pk: 'newer-tombstone', version: 13, deleted: 1 },
      { pk: 'retired', version: 11, deleted: 1 },
    ]);
  });
});

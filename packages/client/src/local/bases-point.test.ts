import Database from 'better-sqlite3';
import { defineSchema } from '@ferry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { setUpDatabase } from '../client-setup.js';
import { SerialDatabase } from '../driver/serial-database.js';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import {
  basesAtMember,
  forgetBasesPoint,
  learnBasesPoint,
  readBasesPoint,
  settleBasesPointByPull,
} from './bases-point.js';
import { writeState } from './metadata.js';

const schema = defineSchema({
  tables: {
    notes: {
      owner: 'owner_id',
      columns: { id: { type: 'uuid' }, owner_id: { type: 'text' }, title: { type: 'text' } },
    },
  },
});

const open: SerialDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

/** A file at checkpoint 5 with one pending edit pinned to version `pin`. */
async function fileAt5(pin: number) {
  const db = new SerialDatabase(betterSqlite3Driver(new Database(':memory:')));
  open.push(db);
  await setUpDatabase(db, { schema });
  await writeState(db, 'checkpoint', 5);
  await db.run(
    "INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at, pinned, pin_version, pin_base) VALUES ('notes', 'n1', 'U', 1, 1, 1, 1, ?, '{}')",
    [pin],
  );
  const pinOf = async () =>
    (await db.all<{ v: number | null }>('SELECT pin_version AS v FROM ferry_outbox'))[0]?.v;
  return { db, pinOf };
}

describe('the bases point', () => {
  it('is learned from an answer above the checkpoint, and only a newer one replaces it, keeping the first floor', async () => {
    const { db } = await fileAt5(7);
    await learnBasesPoint(db, { bundleSeq: 5, token: 't5' });
    expect(await readBasesPoint(db)).toBeNull();
    await learnBasesPoint(db, { bundleSeq: 9 });
    expect(await readBasesPoint(db)).toBeNull();
    await learnBasesPoint(db, { bundleSeq: 8, token: 't8' });
    await writeState(db, 'checkpoint', 6);
    await learnBasesPoint(db, { bundleSeq: 7, token: 't7' });
    expect(await readBasesPoint(db)).toEqual({ bundleSeq: 8, token: 't8', floor: 5 });
    await learnBasesPoint(db, { bundleSeq: 10, token: 't10' });
    expect(await readBasesPoint(db)).toEqual({ bundleSeq: 10, token: 't10', floor: 5 });
    expect(basesAtMember(await readBasesPoint(db))).toEqual({
      basesAt: { bundleSeq: 10, token: 't10' },
    });
    expect(basesAtMember(null)).toEqual({});
  });

  it('is confirmed by a pulled bundle at its seq under its token, and the versions stay', async () => {
    const { db, pinOf } = await fileAt5(7);
    await learnBasesPoint(db, { bundleSeq: 8, token: 't8' });
    expect(await settleBasesPointByPull(db, [{ bundleSeq: 6, token: 'x6' }])).toBe(false);
    expect(await readBasesPoint(db)).not.toBeNull();
    expect(await settleBasesPointByPull(db, [{ bundleSeq: 8, token: 't8' }])).toBe(false);
    expect(await readBasesPoint(db)).toBeNull();
    expect(await pinOf()).toBe(7);
  });

  it('is refuted by a pulled bundle at its seq under another token: the versions above the floor go', async () => {
    const { db, pinOf } = await fileAt5(7);
    await learnBasesPoint(db, { bundleSeq: 8, token: 't8' });
    // The checkpoint moved on meanwhile; what was learned above the first floor still goes.
    await writeState(db, 'checkpoint', 7);
    expect(await settleBasesPointByPull(db, [{ bundleSeq: 8, token: 'other' }])).toBe(true);
    expect(await readBasesPoint(db)).toBeNull();
    expect(await pinOf()).toBeNull();
  });

  it('refused by the server, forgets the versions above the floor and nothing at or below it', async () => {
    const above = await fileAt5(7);
    await learnBasesPoint(above.db, { bundleSeq: 8, token: 't8' });
    await forgetBasesPoint(above.db);
    expect(await readBasesPoint(above.db)).toBeNull();
    expect(await above.pinOf()).toBeNull();

    const below = await fileAt5(4);
    await learnBasesPoint(below.db, { bundleSeq: 8, token: 't8' });
    await forgetBasesPoint(below.db);
    expect(await below.pinOf()).toBe(4);
  });
});

import Database from 'better-sqlite3';
import { defineSchema, PROTOCOL_VERSION } from '@ferry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { setUpDatabase } from '../client-setup.js';
import { SerialDatabase } from '../driver/serial-database.js';
import type { SqliteDriver } from '../driver/sqlite-driver.js';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { countingDriver } from '../drivers/test-support/counting-driver.js';
import type { EngineContext } from '../engine-context.js';
import { readFrozenBundle, wireChangeOf, type FrozenBundle } from '../local/metadata.js';
import { createTableCodecs } from '../local/table-codec.js';
import { pushBodyJson } from '../sync/push-body.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { settleInsertsOnRotation } from '../local/cancelled-inserts.js';
import { freezeNextBundle } from './freeze-bundle.js';

const schema = defineSchema({
  tables: {
    folders: {
      owner: 'owner_id',
      columns: {
        id: { type: 'integer' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true },
        visits: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
      },
    },
    notes: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        folder_id: { type: 'integer', references: { table: 'folders', onDelete: 'cascade' } },
        title: { type: 'text', notNull: true },
        pinned: { type: 'boolean', notNull: true, default: false },
        weight: { type: 'real' },
        meta: { type: 'json' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
});

const open: SerialDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

async function setUp(driver?: SqliteDriver) {
  const db = new SerialDatabase(driver ?? betterSqlite3Driver(new Database(':memory:')));
  open.push(db);
  const { sourceId } = await setUpDatabase(db, { schema });
  let now = 1_000;
  const ctx: EngineContext = {
    schema,
    codecs: createTableCodecs(schema),
    sourceId,
    now: () => now++,
    hook: () => undefined,
    derived: [],
  };
  const freeze = (maxChanges = 10_000, sourceBundleId = 1) =>
    db.transaction(async (tx) => {
      await foldCaptureLog(tx, ctx.now());
      return freezeNextBundle(tx, ctx, { maxChanges, maxBytes: 1_000_000 }, sourceBundleId);
    });
  /** One `client.write`: a B marker, then the statements, in one transaction. */
  const write = (...statements: [string, unknown[]][]) =>
    db.batch([
      { sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)", params: [ctx.now()] },
      ...statements.map(([sql, params]) => ({ sql, params: params as never[] })),
    ]);
  return { db, ctx, freeze, write };
}

const envelope = (bundle: FrozenBundle) => (changes: unknown) => ({
  protocol: PROTOCOL_VERSION,
  sourceId: '00000000-0000-4000-8000-000000000001',
  push: { sourceBundleId: bundle.sourceBundleId, changes },
  after: 7,
  limit: 5000,
});

describe('freezeNextBundle', () => {
  it('sends a just frozen bundle byte for byte as it is resent from the file', async () => {
    const { db, freeze, write } = await setUp();
    await write(
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [1, 'Inbox "quoted" \\ back']],
      [
        'INSERT INTO notes (id, folder_id, title, pinned, weight, meta) VALUES (?, ?, ?, ?, ?, ?)',
        [
          '0b7e7b5e-7a4a-4f0e-9f4f-7c1c2d3e4f50',
          1,
          'ünïcødé 🚀 \u2028 tab\t',
          1,
          1e21,
          JSON.stringify({ b: [1, 2.5, null], a: 'x' }),
        ],
      ],
      [
        'INSERT INTO notes (id, folder_id, title, weight) VALUES (?, ?, ?, ?)',
        ['1c7e7b5e-7a4a-4f0e-9f4f-7c1c2d3e4f51', null, '', -0.000001],
      ],
    );
    const { bundle } = await freeze();
    expect(bundle?.changes).toHaveLength(3);
    expect(bundle?.wire).toHaveLength(3);
    const fromFile = await readFrozenBundle(db);
    expect(fromFile?.wire).toBeUndefined();
    const first = pushBodyJson(bundle!, schema, envelope(bundle!));
    expect(first).toBe(pushBodyJson(fromFile!, schema, envelope(fromFile!)));
    expect(first).toBe(
      JSON.stringify(envelope(bundle!)(bundle!.changes.map((c) => wireChangeOf(c, schema)))),
    );
    expect(fromFile?.changes).toEqual(bundle?.changes);
  });

  it('says what it knows of a base it has no row of: a re-creation on a tombstone, an insert the file may have pushed before its source rotated, a plain insert; resent from the file alike', async () => {
    const { db, freeze, write } = await setUp();
    await db.run(
      "INSERT INTO ferry_rows (tbl, pk, version, deleted, base) VALUES ('folders', 1, 4, 1, NULL)",
    );
    await write(
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [1, 'seen deleted, made again']],
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [2, 'maybe pushed']],
    );
    await db.transaction(async (tx) => {
      await foldCaptureLog(tx, 2_000);
      await settleInsertsOnRotation(tx, schema, 2_000);
    });
    await write(['INSERT INTO folders (id, name) VALUES (?, ?)', [3, 'new']]);
    const { bundle } = await freeze();
    const claims = bundle!.changes
      .map((c) => wireChangeOf(c, schema))
      .map((c) => ({
        pk: c.pk,
        baseVersion: c.baseVersion,
        baseDeleted: 'baseDeleted' in c ? c.baseDeleted : undefined,
        maybePushed: 'maybePushed' in c ? c.maybePushed : undefined,
      }));
    expect(claims).toEqual([
      { pk: 1, baseVersion: 4, baseDeleted: true, maybePushed: undefined },
      { pk: 2, baseVersion: null, baseDeleted: undefined, maybePushed: true },
      { pk: 3, baseVersion: null, baseDeleted: undefined, maybePushed: undefined },
    ]);
    const fromFile = await readFrozenBundle(db);
    expect(pushBodyJson(bundle!, schema, envelope(bundle!))).toBe(
      pushBodyJson(fromFile!, schema, envelope(fromFile!)),
    );
  });

  it('sends what an update added to each counter it changed, spliced and resent from the file alike', async () => {
    const { db, freeze, write } = await setUp();
    await db.run(
      `INSERT INTO ferry_rows (tbl, pk, version, deleted, base) VALUES ('folders', 1, 4, 0, '{"id":1,"name":"a","visits":5}')`,
    );
    await db.batch([
      { sql: 'UPDATE ferry_capture SET applying = 1', params: [] },
      { sql: "INSERT INTO folders (id, name, visits) VALUES (1, 'a', 5)", params: [] },
      { sql: 'UPDATE ferry_capture SET applying = 0', params: [] },
    ]);
    await write(['UPDATE folders SET visits = visits + 3, name = ? WHERE id = 1', ['b']]);
    const { bundle } = await freeze();
    const [change] = bundle!.changes.map((c) => wireChangeOf(c, schema));
    expect(change).toMatchObject({
      baseVersion: 4,
      columns: ['name', 'visits'],
      deltas: { visits: 3 },
    });
    const fromFile = await readFrozenBundle(db);
    const spliced = pushBodyJson(bundle!, schema, envelope(bundle!));
    expect(spliced).toBe(pushBodyJson(fromFile!, schema, envelope(fromFile!)));
    expect(spliced).toContain('"deltas":{"visits":3}');
  });

  it('takes entries in write order up to the limit without splitting a write, and leaves the rest pending', async () => {
    const { db, freeze, write } = await setUp();
    await write(['INSERT INTO folders (id, name) VALUES (?, ?)', [1, 'a']]);
    await write(
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [2, 'b']],
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [3, 'c']],
    );
    await write(['INSERT INTO folders (id, name) VALUES (?, ?)', [4, 'd']]);
    const { bundle, splitsWrite } = await freeze(2);
    expect(splitsWrite).toBe(false);
    expect(bundle?.changes.map((c) => c.pk)).toEqual([1]);
    const next = await db.all<{ pk: number }>('SELECT pk FROM ferry_outbox ORDER BY pk');
    expect(next.map((r) => r.pk)).toEqual([2, 3, 4]);
    expect(await db.all('SELECT tbl, pk, op FROM ferry_inflight')).toEqual([
      { tbl: 'folders', pk: 1, op: 'upsert' },
    ]);
  });

  it('orders parents first for upserts, and drops entries with nothing to push', async () => {
    const { db, freeze, write } = await setUp();
    await write(
      ['INSERT INTO notes (id, folder_id, title) VALUES (?, ?, ?)', ['n1', 9, 'child']],
      ['INSERT INTO folders (id, name) VALUES (?, ?)', [9, 'parent']],
    );
    // A delete of a row the server never had: nothing to push.
    await db.run(
      "INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) VALUES ('folders', 77, 'D', 0, 0, 0)",
    );
    const { bundle } = await freeze();
    expect(bundle?.changes.map((c) => [c.tbl, c.pk, c.op])).toEqual([
      ['folders', 9, 'upsert'],
      ['notes', 'n1', 'upsert'],
    ]);
    expect(await db.all('SELECT * FROM ferry_outbox')).toEqual([]);
  });

  it('freezes a bundle with a few statements per thousand changes, not several per change', async () => {
    const { driver: counting, statements } = countingDriver();
    const { freeze, write, db } = await setUp(counting);
    let nextId = 1;
    const count = async (rows: number) => {
      const inserts: [string, unknown[]][] = [];
      for (let i = 0; i < rows; i++) {
        inserts.push(['INSERT INTO folders (id, name) VALUES (?, ?)', [nextId++, `f${i}`]]);
      }
      await write(...inserts);
      const before = statements();
      const { bundle } = await freeze();
      expect(bundle?.changes).toHaveLength(rows);
      await db.exec('DELETE FROM ferry_inflight; DELETE FROM ferry_bundle');
      return statements() - before;
    };
    const small = await count(3);
    expect(small).toBeLessThanOrEqual(17);
    const big = await count(3_000);
    expect(big).toBeLessThanOrEqual(small + 45);
  });
});

describe('freezing more entries than a page', () => {
  it('takes them in write order across pages, keys of either type, and leaves the rest for the next bundle', async () => {
    const { db, freeze } = await setUp();
    // 2,500 writes of one row each, alternating an integer key and a text key: the freeze reads
    // the outbox a page of 1,000 at a time, each page after the last entry of the one before.
    const expected: [string, string | number][] = [];
    const statements = [];
    for (let i = 0; i < 2_500; i++) {
      statements.push({ sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)", params: [i] });
      if (i % 2 === 0) {
        statements.push({
          sql: 'INSERT INTO folders (id, name) VALUES (?, ?)',
          params: [2_500 - i, `f${i}`],
        });
        expected.push(['folders', 2_500 - i]);
      } else {
        statements.push({
          sql: 'INSERT INTO notes (id, title) VALUES (?, ?)',
          params: [`n${2_500 - i}`, `n${i}`],
        });
        expected.push(['notes', `n${2_500 - i}`]);
      }
    }
    await db.batch(statements);
    const first = await freeze(2_200);
    // Parents first within the bundle: compare as sets, and the cut by write order.
    const taken = first.bundle!.changes.map((c) => [c.tbl, c.pk]);
    expect(taken).toHaveLength(2_200);
    expect(new Set(taken.map(String))).toEqual(new Set(expected.slice(0, 2_200).map(String)));
    await db.exec('DELETE FROM ferry_inflight; DELETE FROM ferry_bundle');
    const second = await freeze(2_200, 2);
    expect(new Set(second.bundle!.changes.map((c) => String([c.tbl, c.pk])))).toEqual(
      new Set(expected.slice(2_200).map(String)),
    );
  });
});

describe('write order across folds', () => {
  it('never pushes a later write before an earlier one, however often the log was folded in between', async () => {
    const { db, freeze, write } = await setUp();
    const fold = () => db.transaction((tx) => foldCaptureLog(tx, 0));
    // Write 1: five folders; write 2: the folder the note of write 3 goes into.
    await write(
      ...[1, 2, 3, 4, 5].map((id): [string, unknown[]] => [
        'INSERT INTO folders (id, name) VALUES (?, ?)',
        [id, `f${id}`],
      ]),
    );
    await write(['INSERT INTO folders (id, name) VALUES (?, ?)', [6, 'parent']]);
    await fold();
    await write(['INSERT INTO notes (id, folder_id, title) VALUES (?, ?, ?)', ['n', 6, 'child']]);
    await fold();
    const groups = await db.all<{ pk: unknown; first_group: number }>(
      'SELECT pk, first_group FROM ferry_outbox ORDER BY first_group',
    );
    expect(groups.map((g) => g.pk)).toEqual([1, 2, 3, 4, 5, 6, 'n']);
    const { bundle } = await freeze(6);
    expect(bundle?.changes.map((c) => c.pk)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

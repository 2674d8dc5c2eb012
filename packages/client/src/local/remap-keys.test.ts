import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { setUpDatabase } from '../client-setup.js';
import { SerialDatabase } from '../driver/serial-database.js';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import type { FrozenChange } from './metadata.js';
import { assignedKeysOf, pushedChanges, remapTemporaryKeys, tablesOfRemap } from './remap-keys.js';
import { createTableCodecs } from './table-codec.js';

const schema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      keys: 'server',
      columns: { id: { type: 'integer' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    tasks: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        project_id: { type: 'integer', references: { table: 'projects' } },
      },
    },
  },
});

const change = (over: Partial<FrozenChange>): FrozenChange => ({
  ord: 0,
  tbl: 'projects',
  pk: 1,
  letter: 'I',
  op: 'upsert',
  baseVersion: null,
  base: null,
  row: null,
  firstGroup: 1,
  lastGroup: 1,
  firstAt: 0,
  conflicts: 0,
  ...over,
});

describe('pushedChanges', () => {
  it('puts the keys an answer to the bundle assigned back to the temporary keys it was pushed with', () => {
    const remapped = [
      change({ ord: 0, pk: 41, row: { id: 41, name: 'a' } }),
      change({ ord: 1, tbl: 'tasks', pk: 't1', row: { id: 't1', project_id: 41 } }),
    ];
    const pushed = pushedChanges(schema, remapped, [{ table: 'projects', temp: -7, pk: 41 }]);
    expect(pushed[0]).toMatchObject({ pk: -7, row: { id: -7, name: 'a' } });
    expect(pushed[1]).toMatchObject({ pk: 't1', row: { id: 't1', project_id: -7 } });
  });

  it('leaves an edit of a row the server had (a base version) and keys other bundles assigned alone', () => {
    const edits = [
      change({ ord: 0, pk: 41, baseVersion: 3, row: { id: 41, name: 'b' } }),
      change({ ord: 1, tbl: 'tasks', pk: 't1', row: { id: 't1', project_id: 40 } }),
    ];
    expect(pushedChanges(schema, edits, [{ table: 'projects', temp: -7, pk: 41 }])).toEqual([
      edits[0],
      edits[1],
    ]);
  });
});

describe('assignedKeysOf and tablesOfRemap', () => {
  it('reads the assigned keys from the effects that carry tempKey, and names the tables that reference them', () => {
    const keys = assignedKeysOf([
      { table: 'projects', pk: 41, op: 'upsert', rowVersion: 1, row: { id: 41 }, tempKey: -7 },
      { table: 'tasks', pk: 't1', op: 'upsert', rowVersion: 1, row: { id: 't1' } },
      { table: 'projects', pk: 2, op: 'delete', rowVersion: 3, row: null },
    ]);
    expect(keys).toEqual([{ table: 'projects', temp: -7, pk: 41 }]);
    expect(tablesOfRemap(schema, keys).sort()).toEqual(['projects', 'tasks']);
  });
});

describe('remapTemporaryKeys on a real file', () => {
  const open: SerialDatabase[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
  });

  async function file() {
    const db = new SerialDatabase(betterSqlite3Driver(new Database(':memory:')));
    open.push(db);
    await setUpDatabase(db, { schema });
    return db;
  }
  const codecs = createTableCodecs(schema);

  it('moves the row, its references and every entry that names it, in one go, and records the map', async () => {
    const db = await file();
    await db.run("INSERT INTO projects (id, owner_id, name) VALUES (-7, 'u', 'a')");
    await db.run("INSERT INTO tasks (id, owner_id, project_id) VALUES ('t1', 'u', -7)");
    await db.run('DELETE FROM ferry_log');
    await db.run(
      `INSERT INTO ferry_inflight (ord, tbl, pk, letter, op, base_version, base, row, first_group, last_group, first_at)
       VALUES (0, 'projects', -7, 'I', 'upsert', NULL, NULL, '{"id":-7,"name":"a"}', 1, 1, 0),
              (1, 'tasks', 't1', 'I', 'upsert', NULL, NULL, '{"id":"t1","project_id":-7}', 1, 1, 0)`,
    );
    await db.run(
      "INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) VALUES ('projects', -7, 'U', 2, 2, 0)",
    );
    await db.run(
      `INSERT INTO ferry_conflicts (tbl, pk, op, local, base, server, base_version, server_version, server_deleted, reason, first_at, at)
       VALUES ('tasks', 't9', 'upsert', '{"id":"t9","project_id":-7}', '{"id":"t9","project_id":3}', NULL, 4, 5, 0, 'x', 0, 0)`,
    );
    const moved = await db.transaction(
      (tx) =>
        remapTemporaryKeys(
          tx,
          schema,
          codecs,
          [{ table: 'projects', temp: -7, pk: 41 }],
          {
            sourceId: 's',
            sourceBundleId: 3,
          },
          9,
        ),
      { foreignKeysOff: true },
    );
    expect(moved).toEqual([{ table: 'projects', temp: -7, pk: 41 }]);
    expect(await db.all('SELECT id FROM projects')).toEqual([{ id: 41 }]);
    expect(await db.all('SELECT project_id FROM tasks')).toEqual([{ project_id: 41 }]);
    expect(await db.all('SELECT pk, row FROM ferry_inflight ORDER BY ord')).toEqual([
      { pk: 41, row: '{"id":41,"name":"a"}' },
      { pk: 't1', row: '{"id":"t1","project_id":41}' },
    ]);
    expect(await db.all('SELECT pk FROM ferry_outbox')).toEqual([{ pk: 41 }]);
    expect(await db.all('SELECT local FROM ferry_conflicts')).toEqual([
      { local: '{"id":"t9","project_id":41}' },
    ]);
    expect(
      await db.all('SELECT tbl, temp, pk, source_id, source_bundle_id FROM ferry_key_map'),
    ).toEqual([{ tbl: 'projects', temp: -7, pk: 41, source_id: 's', source_bundle_id: 3 }]);
    // Nothing was captured: the server wrote the same.
    expect(await db.all("SELECT * FROM ferry_log WHERE op != 'K'")).toEqual([]);
    // Again: nothing moves.
    const again = await db.transaction((tx) =>
      remapTemporaryKeys(
        tx,
        schema,
        codecs,
        [{ table: 'projects', temp: -7, pk: 41 }],
        {
          sourceId: 's',
          sourceBundleId: 3,
        },
        10,
      ),
    );
    expect(again).toEqual([{ table: 'projects', temp: -7, pk: 41 }]);
    expect(await db.all('SELECT id FROM projects')).toEqual([{ id: 41 }]);
  });

  it('replaces a server copy a snapshot brought under the new key, keeping its children, and follows a key an earlier answer gave', async () => {
    const db = await file();
    await db.run("INSERT INTO projects (id, owner_id, name) VALUES (-7, 'u', 'local edit')");
    // The snapshot's rows, applied as server data (capture off).
    await db.run('UPDATE ferry_capture SET applying = 1');
    await db.run("INSERT INTO projects (id, owner_id, name) VALUES (41, 'u', 'server copy')");
    await db.run("INSERT INTO tasks (id, owner_id, project_id) VALUES ('t2', 'u', 41)");
    await db.run('UPDATE ferry_capture SET applying = 0');
    await db.transaction(
      (tx) =>
        remapTemporaryKeys(
          tx,
          schema,
          codecs,
          [{ table: 'projects', temp: -7, pk: 41 }],
          {
            sourceId: 's',
            sourceBundleId: 3,
          },
          9,
        ),
      { foreignKeysOff: true },
    );
    expect(await db.all('SELECT id, name FROM projects')).toEqual([{ id: 41, name: 'local edit' }]);
    expect(await db.all('SELECT id FROM tasks')).toEqual([{ id: 't2' }]);
    // The server lost that commit; the bundle, sent again, got key 52.
    await db.transaction(
      (tx) =>
        remapTemporaryKeys(
          tx,
          schema,
          codecs,
          [{ table: 'projects', temp: -7, pk: 52 }],
          {
            sourceId: 's',
            sourceBundleId: 3,
          },
          11,
        ),
      { foreignKeysOff: true },
    );
    expect(await db.all('SELECT id FROM projects')).toEqual([{ id: 52 }]);
    expect(await db.all('SELECT project_id FROM tasks')).toEqual([{ project_id: 52 }]);
    expect(await db.all('SELECT temp, pk FROM ferry_key_map')).toEqual([{ temp: -7, pk: 52 }]);
  });

  it('records nothing for another device’s temporary keys', async () => {
    const db = await file();
    const moved = await db.transaction((tx) =>
      remapTemporaryKeys(
        tx,
        schema,
        codecs,
        [{ table: 'projects', temp: -99, pk: 60 }],
        {
          sourceId: 'other',
          sourceBundleId: 1,
        },
        9,
      ),
    );
    expect(moved).toEqual([]);
    expect(await db.all('SELECT * FROM ferry_key_map')).toEqual([]);
  });
});

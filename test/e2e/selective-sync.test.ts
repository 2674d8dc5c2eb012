import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { schemaHistory, type Schema } from '@ferry/protocol';
import { todoSchema, todoV2, todoV3 } from '@ferry/example-todo';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

describe('selective sync', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('a client of lists only gets lists, writes lists, and gets the todos once it adds the table, keeping its pending change', async () => {
    const full = await h.client('full');
    const [l1, t1] = [uuid(), uuid()];
    await full.write((tx) => {
      tx.insert('lists', { id: l1, name: 'one' });
      tx.insert('todos', { id: t1, list_id: l1, title: 'milk' });
    });
    await full.sync();

    const partial = await h.client('partial', 'alice', { tables: ['lists'] });
    await partial.sync();
    expect((await rowsOf(partial, 'lists')).map((l) => l['id'])).toEqual([l1]);
    // The todos table is not in the file at all.
    expect(
      await partial.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'todos'"),
    ).toEqual([]);
    // The server sent no todo: its snapshot for this client has lists only.
    const snapshot = await fetch(`${h.url}/v1/snapshot`, {
      headers: {
        authorization: `Bearer ${await h.token('alice')}`,
        'x-ferry-schema': '1',
        'x-ferry-tables': 'lists',
      },
    });
    const tables = (await snapshot.text())
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { table?: string }).table)
      .filter((t) => t !== undefined);
    expect(tables).toEqual(['lists']);

    // It writes lists like any client; a todo the other device adds does not reach it.
    const l2 = uuid();
    await partial.write((tx) => tx.insert('lists', { id: l2, name: 'two' }));
    await partial.sync();
    await full.sync();
    await full.write((tx) => tx.insert('todos', { id: uuid(), list_id: l2, title: 'eggs' }));
    await full.sync();
    await partial.sync();
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l['id']).sort()).toEqual(
      [l1, l2].sort(),
    );

    // A pending change, then the app adds todos to what it syncs.
    const l3 = uuid();
    await partial.write((tx) => tx.insert('lists', { id: l3, name: 'three' }));
    await partial.close();
    const grown = await h.client('partial', 'alice', { tables: ['lists', 'todos'] });
    await grown.sync();
    await grown.sync();
    expect((await rowsOf(grown, 'todos')).map((t) => t['title']).sort()).toEqual(['eggs', 'milk']);
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l['id'])).toContain(l3);
    expect((await grown.readStatus()).pending).toBe(0);
  });

  it('refuses a child table without its parent, on the client and on the server', async () => {
    await expect(h.client('orphan', 'alice', { tables: ['todos'] })).rejects.toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/todos references lists .* add "lists"/),
    });
    const response = await fetch(`${h.url}/v1/pull?after=0`, {
      headers: {
        authorization: `Bearer ${await h.token('alice')}`,
        'x-ferry-tables': 'todos',
      },
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({
      error: { code: 'bad_request', message: expect.stringMatching(/add "lists"/) },
    });
  });

  it('a client of some tables upgrades its app: the file migrates along its part of each version, keeps its pending change, and the table the new version adds to its part comes in', async () => {
    await h.close();
    const history = schemaHistory(todoSchema, todoV2, todoV3);
    const hv = await startHarness<Schema>({ schema: history });
    try {
      const full = await hv.client('full');
      const [list, tag] = [uuid(), uuid()];
      await full.write((tx) => {
        tx.insert('lists' as never, { id: list, name: 'home' });
        tx.insert('tags' as never, { id: tag, list_id: list, label: 'errands' });
      });
      await full.sync();
      // The app's version 1 synced lists only, and left a change pending.
      const old = await hv.client('partial', 'alice', { schema: todoSchema, tables: ['lists'] });
      await old.sync();
      const pending = uuid();
      await old.write((tx) => tx.insert('lists', { id: pending, name: 'pending' }));
      await old.close();
      // Version 3 syncs lists and the tags it added (todos still not): its file migrates.
      const points: string[] = [];
      const upgraded = await hv.client('partial', 'alice', {
        schema: todoV3,
        history,
        tables: ['lists', 'tags'],
        hooks: { at: (point) => void points.push(point) },
      });
      expect(points).toContain('during-local-migration');
      expect((await upgraded.readStatus()).pending).toBe(1);
      await upgraded.sync();
      await upgraded.sync();
      expect((await rowsOf(upgraded, 'tags')).map((t) => t['id'])).toEqual([tag]);
      expect(
        await upgraded.query(
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'todos'",
        ),
      ).toEqual([]);
      expect((await serverRows(hv as never, 'alice', 'lists')).map((l) => l['id'])).toContain(
        pending,
      );
      expect((await upgraded.readStatus()).pending).toBe(0);
    } finally {
      await hv.close();
    }
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineSchema, type Change } from '@ferry/protocol';
import { todoSchema } from '@ferry/example-todo';
import { serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** The todo schema as an app version from before `position` existed. */
const withoutPosition = defineSchema({
  tables: {
    lists: todoSchema.declaration.tables.lists,
    todos: {
      ...todoSchema.declaration.tables.todos,
      columns: (({ position: _position, ...rest }) => rest)(
        todoSchema.declaration.tables.todos.columns,
      ),
    },
  },
});

/** A fetch that keeps the changes of every push and sync it sends. */
function recordingPushes(sent: Change[][]): typeof fetch {
  return async (input, init) => {
    const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if ((url.includes('/v1/push') || url.includes('/v1/sync')) && typeof init?.body === 'string') {
      const body = JSON.parse(init.body) as { changes?: Change[]; push?: { changes: Change[] } };
      const changes = body.changes ?? body.push?.changes;
      if (changes) sent.push(changes);
    }
    return fetch(input, init);
  };
}

describe('column-level writes', () => {
  let h: Harness;
  let listId: string;
  let todoId: string;
  beforeEach(async () => {
    h = await startHarness();
    listId = uuid();
    todoId = uuid();
  });
  afterEach(async () => {
    await h.close();
  });

  it('a device whose schema lacks a column toggles a row without resetting that column', async () => {
    const current = await h.client('current');
    await current.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'milk', position: 42.5 });
    });
    await current.sync();

    const sent: Change[][] = [];
    const old = await h.client('old', 'alice', {
      schema: withoutPosition as never,
      fetch: recordingPushes(sent),
    });
    await old.sync();
    await old.write((tx) => tx.update('todos', todoId, { done: true }));
    await old.sync();

    // The old app's push named only what it changed; the server kept `position`.
    const pushed = sent.flat().filter((c) => c.pk === todoId);
    expect(pushed).toEqual([expect.objectContaining({ op: 'upsert', columns: ['done'] })]);
    const [row] = (await serverRows(h, 'alice', 'todos')) as { done: boolean; position: number }[];
    expect(row).toMatchObject({ done: true, position: 42.5, title: 'milk' });
    await current.sync();
    expect(await current.getRow('todos', todoId)).toMatchObject({ done: true, position: 42.5 });
  });

  it('two devices that change different columns of one row from the same version both keep their change', async () => {
    const a = await h.client('a');
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'milk', position: 1 });
    });
    await a.sync();
    const sent: Change[][] = [];
    const b = await h.client('b', 'alice', { fetch: recordingPushes(sent) });
    await b.sync();

    await a.write((tx) => tx.update('todos', todoId, { title: 'oat milk' }));
    await b.write((tx) => tx.update('todos', todoId, { position: 7 }));
    await a.sync();
    await b.sync();
    await a.sync();

    expect(sent.flat().filter((c) => c.pk === todoId)[0]).toMatchObject({ columns: ['position'] });
    const expected = { title: 'oat milk', position: 7, done: false };
    expect(await a.getRow('todos', todoId)).toMatchObject(expected);
    expect(await b.getRow('todos', todoId)).toMatchObject(expected);
    expect(await serverRows(h, 'alice', 'todos')).toEqual([expect.objectContaining(expected)]);
    expect(await b.conflicts()).toEqual([]);
  });

  it('an insert carries the whole row and no column list', async () => {
    const sent: Change[][] = [];
    const a = await h.client('a', 'alice', { fetch: recordingPushes(sent) });
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'milk' });
    });
    await a.sync();
    const inserted = sent.flat().find((c) => c.pk === todoId);
    expect(inserted).toMatchObject({ op: 'upsert', baseVersion: null });
    expect(inserted).not.toHaveProperty('columns');
    expect(await serverRows(h, 'alice', 'todos')).toEqual([
      expect.objectContaining({ title: 'milk', done: false, position: null }),
    ]);
  });
});

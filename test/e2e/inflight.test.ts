import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FerryClient, HookPoint, WriteTransaction } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

describe('writes to a row while its bundle is in flight', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /** A client that runs `edit` once, at `point` of its next sync. */
  async function clientWithEdit(point: HookPoint) {
    let edit: ((tx: WriteTransaction<TodoSchema>) => void) | undefined;
    const client: Client = await h.client('a', 'alice', {
      hooks: {
        async at(reached) {
          if (reached !== point || !edit) return;
          const run = edit;
          edit = undefined;
          await client.write(run);
        },
      },
    });
    const arm = (fn: (tx: WriteTransaction<TodoSchema>) => void) => {
      edit = fn;
    };
    return { client, arm };
  }

  async function expectMatchesServer(client: Client) {
    for (const table of ['lists', 'todos']) {
      expect(await rowsOf(client, table)).toEqual(await serverRows(h, 'alice', table));
    }
    expect(await client.readStatus()).toMatchObject({ pending: 0, inFlight: null });
  }

  it.each(['after-freeze-before-send', 'after-server-commit-before-response'] as const)(
    'an edit made %s stays pending and is pushed on top of the committed row',
    async (point) => {
      const { client, arm } = await clientWithEdit(point);
      await client.sync();
      const listId = uuid();
      const todoId = uuid();
      await client.write((tx) => {
        tx.insert('lists', { id: listId, name: 'L' });
        tx.insert('todos', { id: todoId, list_id: listId, title: 'a' });
      });
      arm((tx) => tx.update('todos', todoId, { done: true }));
      const report = await client.sync();
      expect(report.bundlesPushed).toBe(2);
      expect((await serverRows(h, 'alice', 'todos'))[0]).toMatchObject({ title: 'a', done: true });
      await expectMatchesServer(client);
    },
  );

  it('a delete made while the insert is in flight deletes the row on the server', async () => {
    const { client, arm } = await clientWithEdit('after-freeze-before-send');
    await client.sync();
    const listId = uuid();
    await client.write((tx) => tx.insert('lists', { id: listId, name: 'L' }));
    arm((tx) => tx.delete('lists', listId));
    const report = await client.sync();
    expect(report.bundlesPushed).toBe(2);
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
    await expectMatchesServer(client);
  });

  it('a re-insert made while the delete is in flight re-creates the row over its tombstone', async () => {
    const { client, arm } = await clientWithEdit('after-freeze-before-send');
    await client.sync();
    const listId = uuid();
    await client.write((tx) => tx.insert('lists', { id: listId, name: 'first' }));
    await client.sync();
    await client.write((tx) => tx.delete('lists', listId));
    arm((tx) => tx.insert('lists', { id: listId, name: 'again' }));
    const report = await client.sync();
    expect(report.bundlesPushed).toBe(2);
    expect(report.conflicts).toEqual([]);
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l.name)).toEqual(['again']);
    await expectMatchesServer(client);
  });

  it('an edit, a delete and a re-insert of one row while its bundle is in flight end as the last write', async () => {
    const { client, arm } = await clientWithEdit('after-freeze-before-send');
    await client.sync();
    const listId = uuid();
    await client.write((tx) => tx.insert('lists', { id: listId, name: 'one' }));
    arm((tx) => {
      tx.update('lists', listId, { name: 'two' });
      tx.delete('lists', listId);
      tx.insert('lists', { id: listId, name: 'three' });
    });
    await client.sync();
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l.name)).toEqual(['three']);
    await expectMatchesServer(client);
  });

  it('a peer change pulled while the local edit is in flight is merged, not lost', async () => {
    const peer = await h.client('peer');
    let armed = false;
    const todoId = uuid();
    const listId = uuid();
    const client = await h.client('a', 'alice', {
      hooks: {
        async at(point) {
          if (point !== 'after-freeze-before-send' || !armed) return;
          armed = false;
          // The peer commits first: our in-flight update meets OCC.
          await peer.write((tx) => tx.update('todos', todoId, { title: 'peer title' }));
          await peer.sync();
        },
      },
    });
    await client.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'original' });
    });
    await client.sync();
    await peer.sync();
    await client.write((tx) => tx.update('todos', todoId, { done: true }));
    armed = true;
    const report = await client.sync();
    expect(report.conflicts).toEqual([{ table: 'todos', pk: todoId, outcome: 'rebase' }]);
    expect((await serverRows(h, 'alice', 'todos'))[0]).toMatchObject({
      title: 'peer title',
      done: true,
    });
    await expectMatchesServer(client);
  });
});

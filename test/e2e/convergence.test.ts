import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import {
  pathOf,
  rowsOf,
  serverRows,
  startHarness,
  uuid,
  type Harness,
} from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

/** Every permutation of `items`. */
function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

async function expectConverged(h: Harness, clients: readonly Client[]) {
  for (const table of ['lists', 'todos']) {
    const server = await serverRows(h, 'alice', table);
    for (const client of clients) expect(await rowsOf(client, table)).toEqual(server);
  }
  for (const client of clients) {
    const status = await client.readStatus();
    expect(status.pending).toBe(0);
    expect(status.inFlight).toBeNull();
  }
}

describe('devices of one user converge', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it.each(permutations([0, 1]).map((order) => ({ order, name: order.join(' → ') })))(
    'two devices with offline edits on both converge when they sync in order $name',
    async ({ order }) => {
      const devices = [await h.client('d0'), await h.client('d1')];
      const listId = uuid();
      await devices[0]!.write((tx) => tx.insert('lists', { id: listId, name: 'shared' }));
      await devices[0]!.sync();
      await devices[1]!.sync();
      // Offline: both edit the same list and add their own todos.
      const t0 = uuid();
      const t1 = uuid();
      await devices[0]!.write((tx) => {
        tx.update('lists', listId, { name: 'renamed on 0' });
        tx.insert('todos', { id: t0, list_id: listId, title: 'from 0' });
      });
      await devices[1]!.write((tx) => {
        tx.insert('todos', { id: t1, list_id: listId, title: 'from 1', done: true });
      });
      for (const i of order) await devices[i]!.sync();
      for (const i of order) await devices[i]!.sync();
      await expectConverged(h, devices);
      const todos = await rowsOf(devices[0]!, 'todos');
      expect(todos.map((t) => t.title).sort()).toEqual(['from 0', 'from 1']);
      expect((await rowsOf(devices[1]!, 'lists'))[0]!.name).toBe('renamed on 0');
    },
  );

  it.each(permutations([0, 1, 2]).map((order) => ({ order, name: order.join(' → ') })))(
    'three devices with offline edits converge when they sync in order $name, nothing lost',
    async ({ order }) => {
      const devices = [await h.client('d0'), await h.client('d1'), await h.client('d2')];
      const listId = uuid();
      await devices[0]!.write((tx) => tx.insert('lists', { id: listId, name: 'L' }));
      const shared = uuid();
      await devices[0]!.write((tx) =>
        tx.insert('todos', { id: shared, list_id: listId, title: 'shared', position: 1 }),
      );
      for (const d of devices) await d.sync();
      const created: string[] = [];
      for (const [i, d] of devices.entries()) {
        const id = uuid();
        created.push(id);
        await d.write((tx) => {
          tx.insert('todos', { id, list_id: listId, title: `new on ${i}` });
        });
      }
      // Different fields of one row on different devices merge field by field.
      await devices[0]!.write((tx) => tx.update('todos', shared, { title: 'title from 0' }));
      await devices[1]!.write((tx) => tx.update('todos', shared, { done: true }));
      await devices[2]!.write((tx) => tx.update('todos', shared, { position: 3 }));
      for (const i of order) await devices[i]!.sync();
      for (const i of order) await devices[i]!.sync();
      await expectConverged(h, devices);
      const todos = await rowsOf(devices[0]!, 'todos');
      expect(todos.map((t) => t.id).sort()).toEqual([...created, shared].sort());
      expect(todos.find((t) => t.id === shared)).toMatchObject({
        title: 'title from 0',
        done: true,
        position: 3,
      });
    },
  );

  it('three devices that push without pulling all end with every row after pulling', async () => {
    const devices = [await h.client('d0'), await h.client('d1'), await h.client('d2')];
    for (const d of devices) await d.sync();
    const lists: string[] = [];
    for (const d of devices) {
      const id = uuid();
      lists.push(id);
      await d.write((tx) => tx.insert('lists', { id, name: id }));
    }
    const pushes = [];
    for (const d of devices) pushes.push(await d.sync({ kind: 'push' }));
    expect(pushes.map((p) => p.bundlesPushed)).toEqual([1, 1, 1]);
    // Only the first push was the next bundle after its checkpoint.
    expect((await devices[0]!.readStatus()).checkpoint).toBe(1);
    expect((await devices[2]!.readStatus()).checkpoint).toBe(0);
    expect((await devices[2]!.readStatus()).inFlight?.committedSeq).toBe(3);
    for (const d of devices) await d.sync({ kind: 'pull' });
    await expectConverged(h, devices);
    for (const d of devices) {
      expect((await d.readStatus()).checkpoint).toBe(3);
      expect((await rowsOf(d, 'lists')).map((l) => l.id).sort()).toEqual([...lists].sort());
    }
  });

  it.each([false, true])(
    'a device whose own push came after a peer bundle still pulls that bundle (restart in between: %s)',
    async (restart) => {
      const a = await h.client('a');
      let b = await h.client('b');
      await a.sync();
      await b.sync();
      const fromA = uuid();
      const fromB = uuid();
      await a.write((tx) => tx.insert('lists', { id: fromA, name: 'from a' }));
      await a.sync({ kind: 'push' });
      await b.write((tx) => tx.insert('lists', { id: fromB, name: 'from b' }));
      const pushed = await b.sync({ kind: 'push' });
      expect(pushed.bundlesPushed).toBe(1);
      expect(pushed.checkpoint).toBe(0);
      if (restart) {
        await b.close();
        b = await h.client('b');
        expect(b.status.checkpoint).toBeNull();
        expect((await b.readStatus()).inFlight?.committedSeq).toBe(2);
      }
      const pulled = await b.sync({ kind: 'pull' });
      expect(pulled.checkpoint).toBe(2);
      expect((await rowsOf(b, 'lists')).map((l) => l.id).sort()).toEqual([fromA, fromB].sort());
      await a.sync();
      await expectConverged(h, [a, b]);
    },
  );

  it('a full cycle pushes and pulls in one round trip per step (POST /v1/sync)', async () => {
    const calls: string[] = [];
    const counting: typeof fetch = (input, init) => {
      calls.push(`${init?.method ?? 'GET'} ${pathOf(input)}`);
      return fetch(input, init);
    };
    const a = await h.client('a', 'alice', { fetch: counting });
    const b = await h.client('b');
    await a.sync();
    await b.write((tx) => tx.insert('lists', { id: uuid(), name: 'peer' }));
    await b.sync();
    calls.length = 0;
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'mine' }));
    const report = await a.sync();
    expect(calls).toEqual(['POST /v1/sync']);
    expect(report.pushed).toBe(1);
    expect(report.bundlesPulled).toBe(2);
    expect(report.checkpoint).toBe(2);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClientOptions, FerryClient } from '@ferry/client';
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

describe('push conflicts go to the table resolver', () => {
  let h: Harness;
  let listId: string;
  beforeEach(async () => {
    h = await startHarness();
    listId = uuid();
  });
  afterEach(async () => {
    await h.close();
  });

  /** Device a (with `options`) and device b share `count` todos; both are synced. */
  async function devices(count: number, options: Partial<ClientOptions<TodoSchema>> = {}) {
    const a = await h.client('a', 'alice', options);
    const b = await h.client('b');
    const ids = Array.from({ length: count }, () => uuid());
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      ids.forEach((id, i) =>
        tx.insert('todos', { id, list_id: listId, title: `t${i}`, position: i }),
      );
    });
    await a.sync();
    await b.sync();
    return { a, b, ids };
  }

  async function todo(client: Client, id: string) {
    return client.getRow('todos', id);
  }

  async function expectConverged(...clients: Client[]) {
    const server = await serverRows(h, 'alice', 'todos');
    for (const client of clients) {
      expect(await rowsOf(client, 'todos')).toEqual(server);
      expect(await client.readStatus()).toMatchObject({ pending: 0, inFlight: null });
    }
  }

  it('server-wins adopts the server row and drops the local change', async () => {
    const { a, b, ids } = await devices(1, { resolvers: { todos: 'server-wins' } });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { done: true }));
    const report = await a.sync();
    expect(report.conflicts).toEqual([{ table: 'todos', pk: ids[0], outcome: 'adopt-server' }]);
    expect(await todo(a, ids[0]!)).toMatchObject({ title: 'b', done: false });
    await expectConverged(a);
  });

  it('client-wins pushes the whole local row again over the server row', async () => {
    const { a, b, ids } = await devices(1, { resolvers: { todos: 'client-wins' } });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { done: true }));
    const report = await a.sync();
    expect(report.conflicts).toEqual([{ table: 'todos', pk: ids[0], outcome: 'rebase' }]);
    expect(await todo(a, ids[0]!)).toMatchObject({ title: 't0', done: true });
    await b.sync();
    await expectConverged(a, b);
  });

  it('field-merge keeps fields changed on each side and lets the server win fields changed on both', async () => {
    const { a, b, ids } = await devices(1);
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b title', position: 10 }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { done: true, position: 20 }));
    const report = await a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase']);
    expect(await todo(a, ids[0]!)).toMatchObject({ title: 'b title', done: true, position: 10 });
    await b.sync();
    await expectConverged(a, b);
  });

  it('a custom pure resolver decides from the local, base and server rows', async () => {
    const seen: unknown[] = [];
    const { a, b, ids } = await devices(1, {
      resolvers: {
        todos: (local, base, server) => {
          seen.push({ local: local?.title, base: base?.title, server: server?.title });
          return {
            kind: 'rebase',
            row: { ...server!, title: `${String(server!.title)} + ${String(local!.title)}` },
          };
        },
      },
    });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    await a.sync();
    expect(seen).toEqual([{ local: 'a', base: 't0', server: 'b' }]);
    expect((await serverRows(h, 'alice', 'todos'))[0]!.title).toBe('b + a');
    await expectConverged(a);
  });

  it('resolves a bundle with several conflicting rows in one retry and pushes its other rows with it', async () => {
    const calls: string[] = [];
    const { a, b, ids } = await devices(4, {
      fetch: (input, init) => {
        calls.push(`${init?.method ?? 'GET'} ${pathOf(input)}`);
        return fetch(input, init);
      },
    });
    await b.write((tx) =>
      ids.slice(0, 3).forEach((id) => tx.update('todos', id, { title: `b ${id}` })),
    );
    await b.sync();
    await a.write((tx) => ids.forEach((id) => tx.update('todos', id, { done: true })));
    calls.length = 0;
    const report = await a.sync();
    expect(calls).toEqual(['POST /v1/sync', 'POST /v1/sync']);
    expect(report.conflicts).toHaveLength(3);
    expect(report.bundlesPushed).toBe(1);
    expect(report.pushed).toBe(4);
    const server = await serverRows(h, 'alice', 'todos');
    expect(server.every((t) => t.done === true)).toBe(true);
    expect(server.filter((t) => String(t.title).startsWith('b ')).length).toBe(3);
    await b.sync();
    await expectConverged(a, b);
  });

  it('manual records the conflict, keeps the local row and waits for the app', async () => {
    const { a, b, ids } = await devices(2, { resolvers: { todos: 'manual' } });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'a' });
      tx.update('todos', ids[1]!, { title: 'not conflicting' });
    });
    const report = await a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['manual']);
    expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title).sort()).toEqual([
      'b',
      'not conflicting',
    ]);
    const [conflict] = await a.conflicts();
    expect(conflict).toMatchObject({
      table: 'todos',
      pk: ids[0],
      local: { title: 'a' },
      base: { title: 't0' },
      server: { title: 'b' },
      serverDeleted: false,
    });
    expect(await todo(a, ids[0]!)).toMatchObject({ title: 'a' });
    expect(a.status.conflicts).toBe(1);
    // Further edits of the row wait too; the next cycle does not push it.
    await a.write((tx) => tx.update('todos', ids[0]!, { position: 99 }));
    expect((await a.sync()).pushed).toBe(0);
    await a.resolveConflict(conflict!.id, 'client');
    expect(await a.conflicts()).toEqual([]);
    await a.sync();
    expect((await serverRows(h, 'alice', 'todos')).find((t) => t.id === ids[0])).toMatchObject({
      title: 'a',
      position: 99,
    });
    await b.sync();
    await expectConverged(a, b);
  });

  it.each([
    ['server', { title: 'b' }],
    [{ row: { title: 'chosen', list_id: 'LIST', done: true } }, { title: 'chosen', done: true }],
  ] as const)('resolveConflict(%j) settles a manual conflict', async (choice, expected) => {
    const { a, b, ids } = await devices(1, { resolvers: { todos: 'manual' } });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    await a.sync();
    const [conflict] = await a.conflicts();
    const resolved =
      typeof choice === 'object' ? { row: { ...choice.row, list_id: listId } } : choice;
    await a.resolveConflict(conflict!.id, resolved);
    await a.sync();
    expect(await todo(a, ids[0]!)).toMatchObject(expected);
    await b.sync();
    await expectConverged(a, b);
  });

  describe('a remote delete of a row with a pending local update', () => {
    it.each([false, true])(
      'is adopted under server-wins (pulled before the push: %s)',
      async (pullFirst) => {
        const { a, b, ids } = await devices(1, { resolvers: { todos: 'server-wins' } });
        await b.write((tx) => tx.delete('todos', ids[0]!));
        await b.sync();
        await a.write((tx) => tx.update('todos', ids[0]!, { title: 'edited' }));
        if (pullFirst) {
          await a.sync({ kind: 'pull' });
          // Pulled, but the local intent is not overwritten.
          expect(await todo(a, ids[0]!)).toMatchObject({ title: 'edited' });
        }
        const report = await a.sync();
        expect(report.conflicts.map((c) => c.outcome)).toEqual(['adopt-server']);
        expect(await todo(a, ids[0]!)).toBeUndefined();
        await expectConverged(a, b);
      },
    );

    it.each([false, true])(
      're-creates the row under client-wins (pulled before the push: %s)',
      async (pullFirst) => {
        const { a, b, ids } = await devices(1, { resolvers: { todos: 'client-wins' } });
        await b.write((tx) => tx.delete('todos', ids[0]!));
        await b.sync();
        await a.write((tx) => tx.update('todos', ids[0]!, { title: 'edited' }));
        if (pullFirst) await a.sync({ kind: 'pull' });
        const report = await a.sync();
        expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase']);
        expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title)).toEqual(['edited']);
        await b.sync();
        await expectConverged(a, b);
      },
    );

    it('becomes a manual conflict under field-merge and never a silent loss', async () => {
      const { a, b, ids } = await devices(1);
      await b.write((tx) => tx.delete('todos', ids[0]!));
      await b.sync();
      await a.write((tx) => tx.update('todos', ids[0]!, { title: 'edited' }));
      const report = await a.sync();
      expect(report.conflicts.map((c) => c.outcome)).toEqual(['manual']);
      const [conflict] = await a.conflicts();
      expect(conflict).toMatchObject({
        serverDeleted: true,
        server: null,
        local: { title: 'edited' },
      });
      expect(await todo(a, ids[0]!)).toMatchObject({ title: 'edited' });
      await a.resolveConflict(conflict!.id, 'server');
      expect(await todo(a, ids[0]!)).toBeUndefined();
      await a.sync();
      await expectConverged(a, b);
    });
  });

  it("resolving a remote delete's conflict with 'client' re-creates the row, also after a snapshot left no trace of the delete", async () => {
    const { a, b, ids } = await devices(1);
    await b.write((tx) => tx.delete('todos', ids[0]!));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'edited' }));
    const pushed = await a.sync({ kind: 'push' });
    expect(pushed.conflicts.map((c) => c.outcome)).toEqual(['manual']);
    // A snapshot has no tombstones: the file now knows nothing of the row on the server.
    await a.hydrate();
    const [conflict] = await a.conflicts();
    await a.resolveConflict(conflict!.id, 'client');
    const report = await a.sync();
    expect(report.conflicts).toEqual([]);
    expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title)).toEqual(['edited']);
    await b.sync();
    await expectConverged(a, b);
  });

  it('a local delete wins over a remote edit under field-merge', async () => {
    const { a, b, ids } = await devices(1);
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.delete('todos', ids[0]!));
    const report = await a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase']);
    expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
    await b.sync();
    await expectConverged(a, b);
  });

  it('stops retrying a row that keeps conflicting and makes it a manual conflict', async () => {
    const peer: { b?: Client } = {};
    let ids: string[] = [];
    let round = 0;
    const setup = await devices(1, {
      resolvers: { todos: 'client-wins' },
      maxConflictRetries: 2,
      fetch: async (input, init) => {
        // Before every push of device a, device b changes the row again.
        if (peer.b && init?.method === 'POST') {
          await peer.b.write((tx) => tx.update('todos', ids[0]!, { position: ++round }));
          await peer.b.sync();
        }
        return fetch(input, init);
      },
    });
    ids = setup.ids;
    await setup.a.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    peer.b = setup.b;
    const report = await setup.a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase', 'rebase', 'manual']);
    expect(await setup.a.conflicts()).toHaveLength(1);
    expect(await setup.a.readStatus()).toMatchObject({ conflicts: 1, inFlight: null });
  });
});

import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { isFerryError } from '@ferry/protocol';
import { startFaultProxy, type FaultProxy } from '../fault-proxy/fault-proxy.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

describe('hydration from GET /v1/snapshot', () => {
  let h: Harness | undefined;
  let proxy: FaultProxy | undefined;
  afterEach(async () => {
    await proxy?.close();
    await h?.close();
    proxy = undefined;
  });

  async function seed(count: number) {
    const peer = await h!.client('peer');
    const listId = uuid();
    await peer.write((tx) => {
      tx.insert('lists', { id: listId, name: 'seed' });
      for (let i = 0; i < count; i++)
        tx.insert('todos', { id: uuid(), list_id: listId, title: `t${i}` });
    });
    await peer.sync();
    return { peer, listId };
  }

  it('a first start hydrates, keeps local writes made before it on top, and then pushes them', async () => {
    h = await startHarness();
    await seed(30);
    const a = await h.client('a');
    const myList = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: myList, name: 'offline list' });
      tx.insert('todos', { id: uuid(), list_id: myList, title: 'offline' });
    });
    const report = await a.sync();
    expect(report).toMatchObject({ hydrated: true, pushed: 2, checkpoint: 2 });
    expect(await rowsOf(a, 'todos')).toHaveLength(31);
    expect(await rowsOf(a, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });

  it('history_pruned leads to a hydration that keeps pending local changes', async () => {
    h = await startHarness({ server: { retention: { maxBundlesPerUser: 1, intervalMs: 0 } } });
    const { peer, listId } = await seed(3);
    const a = await h.client('a');
    await a.sync();
    const [shared] = await rowsOf(a, 'todos');
    // a goes offline and edits; meanwhile the peer commits more and the server prunes history.
    const mine = uuid();
    await a.write((tx) => {
      tx.insert('todos', { id: mine, list_id: listId, title: 'offline' });
      tx.update('todos', String(shared!.id), { done: true });
    });
    for (let i = 0; i < 3; i++) {
      await peer.write((tx) =>
        tx.insert('todos', { id: uuid(), list_id: listId, title: `later ${i}` }),
      );
      await peer.sync();
    }
    await h.server.prune();
    const report = await a.sync();
    expect(report.hydrated).toBe(true);
    expect(report.pushed).toBe(2);
    const server = await serverRows(h, 'alice', 'todos');
    expect(server).toHaveLength(7);
    expect(server.find((t) => t.id === mine)).toMatchObject({ title: 'offline' });
    expect(server.find((t) => t.id === shared!.id)).toMatchObject({ done: true });
    expect(await rowsOf(a, 'todos')).toEqual(server);
    await peer.sync();
    expect(await rowsOf(peer, 'todos')).toEqual(server);
  });

  it('cursor_unknown (a checkpoint beyond the server, as after a restore) leads to a hydration', async () => {
    h = await startHarness();
    await seed(2);
    const a = await h.client('a');
    await a.sync();
    await a.close();
    const db = new Database(h.dbPath('a'));
    db.prepare("UPDATE ferry_state SET value = 99 WHERE key = 'checkpoint'").run();
    db.close();
    const reopened = await h.client('a');
    const report = await reopened.sync();
    expect(report).toMatchObject({ hydrated: true, checkpoint: 1 });
    expect(await rowsOf(reopened, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });

  it('an incomplete snapshot stream is discarded: nothing applied, the checkpoint unset', async () => {
    h = await startHarness();
    await seed(2000);
    proxy = await startFaultProxy({
      target: h.url,
      eligible: (_method, path) => path.startsWith('/v1/snapshot'),
    });
    const a = await h.client('a', 'alice', { url: proxy.url });
    const mine = uuid();
    await a.write((tx) => tx.insert('lists', { id: mine, name: 'offline' }));
    proxy.plan('reset-response');
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error)).toBe(true);
    expect(['network', 'bad_response']).toContain((error as { code: string }).code);
    expect(proxy.stats['reset-response']).toBe(1);
    expect(await rowsOf(a, 'todos')).toEqual([]);
    expect((await rowsOf(a, 'lists')).map((l) => l.id)).toEqual([mine]);
    expect(await a.readStatus()).toMatchObject({ checkpoint: null, pending: 1 });
    const report = await a.sync();
    expect(report.hydrated).toBe(true);
    expect(await rowsOf(a, 'todos')).toHaveLength(2000);
    expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
  });

  it('an edit made while our committed bundle waited for its acknowledgement survives a hydration', async () => {
    h = await startHarness();
    const { peer, listId } = await seed(1);
    const a = await h.client('a');
    await a.sync();
    const todo = uuid();
    await a.write((tx) => tx.insert('todos', { id: todo, list_id: listId, title: 'first' }));
    // A peer commits first, so our bundle commits after a seq we have not pulled: it waits.
    await peer.write((tx) => tx.update('lists', listId, { name: 'renamed by the peer' }));
    await peer.sync();
    await a.sync({ kind: 'push' });
    expect((await a.readStatus()).inFlight).toMatchObject({ committedSeq: 3 });
    // Edited on our committed row; the snapshot then brings that row and settles the bundle.
    await a.write((tx) => tx.update('todos', todo, { title: 'second' }));
    await a.hydrate();
    const report = await a.sync();
    expect(report).toMatchObject({ conflicts: [], deadLettered: [] });
    expect((await serverRows(h, 'alice', 'todos')).find((t) => t.id === todo)).toMatchObject({
      title: 'second',
    });
    expect(await rowsOf(a, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });

  it('an edit stacked on a bundle in flight is based on our commit once the bundle settles, through hydrations, a rebase and a late acknowledgement', async () => {
    h = await startHarness();
    const { peer, listId } = await seed(1);
    let stage: 'idle' | 'edit' | 'done' = 'idle';
    let todo = '';
    // Freezes a bundle, edits its row, and dies before sending it.
    const a: FerryClient<TodoSchema> = await h.client('a', 'alice', {
      hooks: {
        async at(point) {
          if (point !== 'after-freeze-before-send' || stage !== 'edit') return;
          stage = 'done';
          await a.write((tx) => tx.update('todos', todo, { position: 7 }));
          throw new Error('the process died before sending');
        },
      },
    });
    await a.sync();
    todo = String((await rowsOf(a, 'todos'))[0]!.id);
    await a.write((tx) => tx.update('todos', todo, { title: 'mine' }));
    stage = 'edit';
    await expect(a.sync()).rejects.toThrow(/died before sending/);
    // The peer changes the row, so our bundle will conflict; a snapshot comes in meanwhile.
    await peer.write((tx) => tx.update('todos', todo, { done: true }));
    await peer.sync();
    await a.hydrate();
    // Another peer bundle, so that ours commits after a seq we have not pulled and waits.
    await peer.write((tx) => tx.update('lists', listId, { name: 'renamed' }));
    await peer.sync();
    const pushed = await a.sync({ kind: 'push' });
    expect(pushed.conflicts).toEqual([{ table: 'todos', pk: todo, outcome: 'rebase' }]);
    expect((await a.readStatus()).inFlight).toMatchObject({ committedSeq: 4 });
    // The snapshot brings our commit and settles the bundle late.
    await a.hydrate();
    const report = await a.sync();
    // The stacked edit goes out on our own commit: no conflict with it, nothing for a resolver.
    // Two rows pushed: the bundle again (its commit confirmed by a replay), then the edit.
    expect(report).toMatchObject({ conflicts: [], pushed: 2 });
    expect((await serverRows(h, 'alice', 'todos')).find((t) => t.id === todo)).toMatchObject({
      title: 'mine',
      done: true,
      position: 7,
    });
    expect(await rowsOf(a, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
    expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: null, conflicts: 0 });
  });

  it.each([
    ['acknowledged before the hydration', false],
    ['settled late by the hydration', true],
  ])(
    'a row this device deleted (%s) can be inserted again with the same key after a hydration, without a conflict',
    async (_name, late) => {
      h = await startHarness();
      const { peer, listId } = await seed(1);
      const a = await h.client('a');
      await a.sync();
      const todo = uuid();
      await a.write((tx) => tx.insert('todos', { id: todo, list_id: listId, title: 'first' }));
      await a.sync();
      await a.write((tx) => tx.delete('todos', todo));
      if (late) {
        // A peer commits first, so our delete commits after a seq we have not pulled: it waits
        // for the snapshot to settle it.
        await peer.write((tx) => tx.update('lists', listId, { name: 'renamed' }));
        await peer.sync();
        await a.sync({ kind: 'push' });
        expect((await a.readStatus()).inFlight).not.toBeNull();
      } else {
        await a.sync();
      }
      await a.hydrate();
      // An undo of the delete: the same key again.
      await a.write((tx) => tx.insert('todos', { id: todo, list_id: listId, title: 'again' }));
      const report = await a.sync();
      expect(report).toMatchObject({ conflicts: [], deadLettered: [] });
      expect((await serverRows(h, 'alice', 'todos')).find((t) => t.id === todo)).toMatchObject({
        title: 'again',
      });
      expect(await a.readStatus()).toMatchObject({ pending: 0, conflicts: 0 });
    },
  );

  it('hydrate() on demand replaces server state and removes rows the server no longer has', async () => {
    h = await startHarness();
    const { peer, listId } = await seed(3);
    const a = await h.client('a');
    await a.sync();
    await peer.write((tx) => tx.delete('lists', listId));
    await peer.sync();
    const report = await a.hydrate();
    expect(report.hydrated).toBe(true);
    expect(await rowsOf(a, 'todos')).toEqual([]);
    expect(await rowsOf(a, 'lists')).toEqual([]);
    expect((await a.readStatus()).checkpoint).toBe(2);
  });
});

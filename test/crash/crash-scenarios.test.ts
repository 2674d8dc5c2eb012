/**
 * Crash safety, one scenario per point: the client process is killed with SIGKILL at a hook
 * point and its file reopened; each case states exactly what must hold afterwards.
 * crash-points-*.test.ts kill seeded workloads at the same points many times.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { HookPoint } from '@ferry/client';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';
import { bundleCrashChild, type CrashChild } from './child-process.js';

let child: CrashChild;
beforeAll(async () => {
  child = await bundleCrashChild();
});
afterAll(() => child.dispose());

/** Bundles the server holds for alice: each committed once, in order. */
async function serverBundles(h: Harness) {
  const response = await fetch(`${h.url}/v1/pull?after=0&limit=50000`, {
    headers: { authorization: `Bearer ${await h.token('alice')}` },
  });
  const body = (await response.json()) as {
    bundles: { bundleSeq: number; sourceId: string | null; sourceBundleId: number | null }[];
  };
  return body.bundles;
}

describe('crash safety: the client process is killed with SIGKILL and the file reopened', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  async function crash(scenario: string, killAt: HookPoint, ids: { list: string; todo: string }) {
    const run = await child.run({
      FERRY_DB: h.dbPath('child'),
      FERRY_URL: h.url,
      FERRY_TOKEN: await h.token('alice'),
      FERRY_SCENARIO: scenario,
      FERRY_KILL_AT: killAt,
      FERRY_IDS: JSON.stringify(ids),
    });
    expect(run.output).toContain(`killed at ${killAt}`);
    expect(run.signal).toBe('SIGKILL');
  }

  it('after the local commit: the write survives and is pushed once', async () => {
    const ids = { list: uuid(), todo: uuid() };
    await crash('write', 'after-local-commit', ids);
    const client = await h.client('child');
    expect((await client.readStatus()).pending).toBe(2);
    await client.sync();
    expect((await serverRows(h, 'alice', 'todos')).map((t) => t.id)).toEqual([ids.todo]);
    expect(await serverBundles(h)).toHaveLength(1);
    expect(await rowsOf(client, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });

  it('inside the write transaction before its commit: nothing of the write remains', async () => {
    const ids = { list: uuid(), todo: uuid() };
    await crash('write', 'after-outbox-write', ids);
    const client = await h.client('child');
    expect(await rowsOf(client, 'lists')).toEqual([]);
    expect((await client.readStatus()).pending).toBe(0);
    await client.sync();
    expect(await serverBundles(h)).toHaveLength(0);
  });

  it('after freezing the bundle, before sending it: the same bundle goes out once', async () => {
    const ids = { list: uuid(), todo: uuid() };
    await crash('write-sync', 'after-freeze-before-send', ids);
    const client = await h.client('child');
    const status = await client.readStatus();
    expect(status.inFlight).toMatchObject({ sourceBundleId: 1, changes: 2, committedSeq: null });
    expect(status.checkpoint).toBe(0);
    expect(await serverBundles(h)).toHaveLength(0);
    const report = await client.sync();
    expect(report.pushed).toBe(2);
    const bundles = await serverBundles(h);
    expect(bundles).toEqual([{ ...bundles[0], sourceId: client.sourceId, sourceBundleId: 1 }]);
    expect(await rowsOf(client, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });

  it.each(['after-server-commit-before-response', 'after-response-before-local-ack'] as const)(
    'after the server committed, killed at %s: the resend is answered as a replay, nothing applied twice',
    async (point) => {
      const ids = { list: uuid(), todo: uuid() };
      await crash('write-sync', point, ids);
      expect(await serverBundles(h)).toHaveLength(1);
      const client = await h.client('child');
      const before = await client.readStatus();
      expect(before.inFlight).toMatchObject({ sourceBundleId: 1, committedSeq: null });
      expect(before.checkpoint).toBe(0);
      await client.sync();
      expect(await serverBundles(h)).toHaveLength(1);
      const after = await client.readStatus();
      expect(after).toMatchObject({ inFlight: null, pending: 0, checkpoint: 1 });
      expect(await rowsOf(client, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
      // The next write uses the next sourceBundleId and commits normally.
      await client.write((tx) => tx.update('todos', ids.todo, { done: true }));
      await client.sync();
      const bundles = await serverBundles(h);
      expect(bundles.map((b) => b.sourceBundleId)).toEqual([1, 2]);
    },
  );

  it.each(['mid-pull-apply', 'after-apply-before-checkpoint'] as const)(
    'killed at %s: the page is not applied, the checkpoint did not move, pending writes survive',
    async (point) => {
      const peer = await h.client('peer');
      const listId = uuid();
      await peer.write((tx) => tx.insert('lists', { id: listId, name: 'peer list' }));
      for (let i = 0; i < 5; i++) {
        await peer.write((tx) =>
          tx.insert('todos', { id: uuid(), list_id: listId, title: `t${i}` }),
        );
      }
      await peer.sync();
      const ids = { list: uuid(), todo: uuid() };
      await crash('pull-first', point, ids);
      const client = await h.client('child', 'alice', { initialSync: 'pull' });
      const status = await client.readStatus();
      expect(status.checkpoint).toBe(0);
      expect((await rowsOf(client, 'todos')).map((t) => t.id)).toEqual([ids.todo]);
      // The write went out with the same round trip and the server committed it as bundle 2.
      expect(status.pending).toBe(0);
      expect(status.inFlight).toMatchObject({ changes: 2, committedSeq: 2 });
      // The crash did not leave capture switched off.
      await client.execute('UPDATE todos SET title = ? WHERE id = ?', ['after crash', ids.todo]);
      expect((await client.readStatus()).pending).toBe(1);
      await client.sync();
      expect(await rowsOf(client, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
      expect(await rowsOf(client, 'todos')).toHaveLength(6);
      expect(await client.readStatus()).toMatchObject({
        checkpoint: 3,
        inFlight: null,
        pending: 0,
      });
      expect((await serverBundles(h)).map((b) => b.bundleSeq)).toEqual([1, 2, 3]);
      expect((await client.getRow('todos', ids.todo))?.title).toBe('after crash');
    },
  );

  it('killed during hydration: nothing is applied and the next start hydrates again', async () => {
    const peer = await h.client('peer');
    const listId = uuid();
    await peer.write((tx) => {
      tx.insert('lists', { id: listId, name: 'peer list' });
      for (let i = 0; i < 20; i++)
        tx.insert('todos', { id: uuid(), list_id: listId, title: `t${i}` });
    });
    await peer.sync();
    const ids = { list: uuid(), todo: uuid() };
    await crash('write-sync', 'during-hydration', ids);
    const client = await h.client('child');
    const status = await client.readStatus();
    expect(status.checkpoint).toBeNull();
    expect(status.pending).toBe(2);
    expect((await rowsOf(client, 'todos')).map((t) => t.id)).toEqual([ids.todo]);
    const report = await client.sync();
    expect(report.hydrated).toBe(true);
    expect(await rowsOf(client, 'todos')).toHaveLength(21);
    expect(await rowsOf(client, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
  });
});

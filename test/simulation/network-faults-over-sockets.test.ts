/**
 * The simulator's network faults, for real: devices of two users talk to a real server over
 * loopback sockets through the fault-injecting proxy (test/fault-proxy), which resets
 * connections in the middle of request and response bodies (snapshot streams included), loses
 * answers after the server did the work, delivers requests twice, and adds latency. Every
 * kind is forced at least once, then they come at random. Afterwards: every bundle committed
 * once, every acknowledged write on the server, every device equal to the server, no row of
 * one user on the other's device. Replay the random part with SEED=….
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { isFerryError } from '@ferry/protocol';
import { createSeededRandom } from '@ferry/sim';
import { FAULT_KINDS, startFaultProxy, type FaultProxy } from '../fault-proxy/fault-proxy.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

const seed = process.env['SEED'] ? Number(process.env['SEED']) : Date.now() % 1_000_000;

/** Syncs until a cycle succeeds (the faults are transient); returns the failure codes seen. */
async function syncThrough(client: Client, kind: 'full' | 'pull' | 'hydrate' = 'full') {
  const failures: string[] = [];
  for (let attempt = 0; attempt < 40; attempt++) {
    try {
      if (kind === 'hydrate') await client.hydrate();
      else await client.sync({ kind });
      return failures;
    } catch (error) {
      if (!isFerryError(error)) throw error;
      failures.push(error.code);
    }
  }
  throw new Error(`no successful ${kind} sync in 40 attempts: ${failures.join(', ')}`);
}

async function bundlesOf(h: Harness, user: string) {
  const response = await fetch(`${h.url}/v1/pull?after=0&limit=50000`, {
    headers: { authorization: `Bearer ${await h.token(user)}` },
  });
  return (
    (await response.json()) as {
      bundles: { sourceId: string | null; sourceBundleId: number | null }[];
    }
  ).bundles;
}

describe('network faults over real sockets', () => {
  let h: Harness;
  let proxy: FaultProxy;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await proxy.close();
    await h.close();
  });

  it(
    `every fault kind of the proxy, on pushes, pulls and snapshot streams of two users: exactly once, nothing lost, all converge (seed ${seed})`,
    { timeout: 120_000 },
    async () => {
      console.log(`network-faults-over-sockets seed ${seed} (replay: SEED=${seed})`);
      const random = createSeededRandom(seed);
      proxy = await startFaultProxy({ target: h.url, random: random.next, rates: {} });
      const via = { url: proxy.url };
      const devices: { name: string; user: string; client: Client }[] = [];
      for (const [name, user] of [
        ['a1', 'alice'],
        ['a2', 'alice'],
        ['b1', 'bob'],
      ] as const) {
        devices.push({ name, user, client: await h.client(name, user, via) });
      }
      // Every kind once, on known requests: the first hydration of a1 is cut mid-stream.
      proxy.plan('reset-response');
      await syncThrough(devices[0]!.client);
      proxy.plan('reset-request', 'lose-response', 'duplicate-request', 'latency');
      await devices[0]!.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'first' }));
      await syncThrough(devices[0]!.client);
      await syncThrough(devices[0]!.client);

      // Then at random, on every request.
      proxy.setRates({
        resetRequest: 0.08,
        resetResponse: 0.08,
        loseResponse: 0.08,
        duplicateRequest: 0.08,
        latency: 0.2,
        latencyMs: [1, 15],
      });
      const written = new Map<string, { user: string; title: string }>();
      const listsOf = new Map<string, string>();
      for (const { user, client } of devices) {
        if (listsOf.has(user)) continue;
        const list = uuid();
        listsOf.set(user, list);
        await client.write((tx) => tx.insert('lists', { id: list, name: `${user}'s list` }));
        await syncThrough(client);
      }
      for (let round = 0; round < 5; round++) {
        for (const { name, user, client } of devices) {
          await syncThrough(client, round % 2 === 0 ? 'full' : 'pull');
          const id = uuid();
          const title = `${name} r${round}`;
          await client.write((tx) =>
            tx.insert('todos', { id, list_id: listsOf.get(user)!, title }),
          );
          written.set(id, { user, title });
          const mine = [...written].filter(([, w]) => w.user === user);
          if (mine.length > 1) {
            const [editId] = mine[random.int(0, mine.length - 2)]!;
            const edited = `${title} (edit)`;
            await client.write((tx) => tx.update('todos', editId, { title: edited }));
            written.get(editId)!.title = edited;
          }
          await syncThrough(client);
        }
      }
      // A new device of alice joins: its snapshot stream goes through the proxy too.
      const late = await h.client('a3', 'alice', via);
      devices.push({ name: 'a3', user: 'alice', client: late });
      await syncThrough(late, 'hydrate');
      proxy.setRates({});
      for (let pass = 0; pass < 2; pass++)
        for (const { client } of devices) await syncThrough(client);

      for (const kind of FAULT_KINDS)
        expect(proxy.stats[kind], `${kind} injected`).toBeGreaterThan(0);
      for (const user of ['alice', 'bob']) {
        const keys = (await bundlesOf(h, user))
          .filter((b) => b.sourceId !== null)
          .map((b) => `${b.sourceId}:${b.sourceBundleId}`);
        expect(new Set(keys).size, `${user}: a bundle committed twice`).toBe(keys.length);
        const todos = await serverRows(h, user, 'todos');
        const expected = [...written].filter(([, w]) => w.user === user);
        expect(todos.map((t) => [t['id'], t['title']]).sort()).toEqual(
          expected.map(([id, w]) => [id, w.title]).sort(),
        );
        for (const device of devices.filter((d) => d.user === user)) {
          expect(await rowsOf(device.client, 'todos'), `${device.name} converged`).toEqual(todos);
          expect(await rowsOf(device.client, 'lists')).toEqual(await serverRows(h, user, 'lists'));
          const foreign = await device.client.query(
            'SELECT id FROM todos WHERE owner_id IS NOT ? UNION ALL SELECT id FROM lists WHERE owner_id IS NOT ?',
            [user, user],
          );
          expect(foreign, `${device.name} holds rows of another user`).toEqual([]);
        }
      }
    },
  );
});

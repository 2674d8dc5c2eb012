/**
 * Lost answers, cut connections and duplicated requests between client and server (the fault
 * proxy on loopback): every bundle still commits exactly once and devices converge. The random
 * part prints its seed; replay with `SEED=… npx vitest run test/e2e/network-faults.test.ts`.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { isFerryError } from '@ferry/protocol';
import { startFaultProxy, type FaultProxy } from '../fault-proxy/fault-proxy.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

async function serverBundles(h: Harness) {
  const response = await fetch(`${h.url}/v1/pull?after=0&limit=50000`, {
    headers: { authorization: `Bearer ${await h.token('alice')}` },
  });
  return ((await response.json()) as { bundles: { sourceId: string; sourceBundleId: number }[] })
    .bundles;
}

/** Syncs until a cycle succeeds (network faults are transient); returns the failures seen. */
async function syncThrough(client: Client, attempts = 20): Promise<string[]> {
  const failures: string[] = [];
  for (let i = 0; i < attempts; i++) {
    try {
      await client.sync();
      return failures;
    } catch (error) {
      if (!isFerryError(error)) throw error;
      failures.push(error.code);
    }
  }
  throw new Error(`no successful sync in ${attempts} attempts: ${failures.join(', ')}`);
}

describe('network faults', () => {
  let h: Harness;
  let proxy: FaultProxy;
  beforeEach(async () => {
    h = await startHarness();
    proxy = await startFaultProxy({ target: h.url });
  });
  afterEach(async () => {
    await proxy.close();
    await h.close();
  });

  it.each(['lose-response', 'reset-response', 'reset-request', 'duplicate-request'] as const)(
    'a push hit by %s commits exactly once',
    async (fault) => {
      const a = await h.client('a', 'alice', { url: proxy.url });
      await a.sync();
      await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'once' }));
      proxy.plan(fault);
      await syncThrough(a);
      const bundles = await serverBundles(h);
      expect(bundles.map((b) => b.sourceBundleId)).toEqual([1]);
      expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
      expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: null, checkpoint: 1 });
    },
  );

  it('a lost answer leaves the bundle in flight, and the resend is answered as a replay', async () => {
    const a = await h.client('a', 'alice', { url: proxy.url });
    await a.sync();
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'once' }));
    // The transport sends a request whose connection was closed once more at once: lose both.
    proxy.plan('lose-response', 'lose-response');
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'network')).toBe(true);
    expect(await a.readStatus()).toMatchObject({
      inFlight: { sourceBundleId: 1, committedSeq: null },
    });
    expect(await serverBundles(h)).toHaveLength(1);
    await a.sync();
    expect(await serverBundles(h)).toHaveLength(1);
    expect(await a.readStatus()).toMatchObject({ inFlight: null, checkpoint: 1 });
  });

  const seed = process.env['SEED'] ? Number(process.env['SEED']) : Date.now() % 1_000_000;
  it(`random faults on every request of three devices: every bundle commits once, all converge (seed ${seed})`, async () => {
    console.log(`network-faults seed ${seed} (replay: SEED=${seed})`);
    let state = seed >>> 0;
    const random = () => {
      state = (state + 0x6d2b79f5) >>> 0;
      let t = state;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    await proxy.close();
    proxy = await startFaultProxy({
      target: h.url,
      random,
      rates: { resetRequest: 0.1, resetResponse: 0.1, loseResponse: 0.1, duplicateRequest: 0.1 },
    });
    const devices: Client[] = [];
    for (let i = 0; i < 3; i++) devices.push(await h.client(`d${i}`, 'alice', { url: proxy.url }));
    const listId = uuid();
    await devices[0]!.write((tx) => tx.insert('lists', { id: listId, name: 'L' }));
    await syncThrough(devices[0]!);
    const written: string[] = [];
    for (let round = 0; round < 6; round++) {
      for (const d of devices) {
        if (round > 0 || d !== devices[0]) await syncThrough(d);
        const id = uuid();
        written.push(id);
        await d.write((tx) => tx.insert('todos', { id, list_id: listId, title: `r${round}` }));
        await syncThrough(d);
      }
    }
    for (const d of devices) await syncThrough(d);
    const bundles = await serverBundles(h);
    const keys = bundles.map((b) => `${b.sourceId}:${b.sourceBundleId}`);
    expect(new Set(keys).size).toBe(keys.length);
    const server = await serverRows(h, 'alice', 'todos');
    expect(server.map((t) => t.id).sort()).toEqual([...written].sort());
    for (const d of devices) expect(await rowsOf(d, 'todos')).toEqual(server);
  });
});

describe('a server that asks to slow down', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it('a 429 fails the cycle with its Retry-After and loses nothing', async () => {
    h = await startHarness({
      server: { limits: { rateLimit: { requestsPerSecond: 0.01, burst: 1 } } },
    });
    const a = await h.client('a');
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'kept' }));
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'rate_limited')).toBe(true);
    expect(error).toMatchObject({ status: 429 });
    expect(
      (error as { details: { retryAfterSeconds: number } }).details.retryAfterSeconds,
    ).toBeGreaterThan(0);
    expect(a.status.lastError?.code).toBe('rate_limited');
    expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: { sourceBundleId: 1 } });
  });
});

/**
 * Failures the client gets over by itself, against the real server over HTTP on 127.0.0.1: the
 * server down for a while (backoff, the circuit opening, the half-open trial), a refused token
 * (one refresh, then resume or stay blocked and say so), and `close()` in the middle of a cycle.
 * Time is a manual clock; the status is checked at every step, so a failure is never silent.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GetTokenOptions } from '@ferry/client';
import { autoClient, settled, until } from '../support/auto-sync.js';
import {
  pathOf,
  serverRows,
  signedToken,
  startHarness,
  uuid,
  type Harness,
} from '../support/ferry-harness.js';

describe('the scheduler when things fail', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('backs off, opens the circuit while the server is down, and recovers by itself once it is back', async () => {
    const a = await autoClient(h, 'a', { realtime: false });
    await settled(a);
    await h.stopServer();
    const listId = uuid();
    await a.client.write((tx) => tx.insert('lists', { id: listId, name: 'while down' }));
    await a.clock.advanceAsync(2_000);

    // Five failed cycles in a row (the default threshold), each retried after its backoff.
    for (let failures = 1; failures <= 5; failures++) {
      await until(() => expect(a.client.status.consecutiveFailures).toBe(failures));
      const status = a.client.status;
      expect(status).toMatchObject({
        state: failures < 5 ? 'backoff' : 'paused',
        circuit: failures < 5 ? 'closed' : 'open',
        inFlight: expect.objectContaining({ changes: 1, committedSeq: null }) as unknown,
        lastError: expect.objectContaining({ code: 'network' }) as unknown,
        lastFailure: expect.objectContaining({ class: 'transient', code: 'network' }) as unknown,
      });
      expect(status.nextRetryAt).toBeGreaterThanOrEqual(a.clock.now());
      if (failures < 5) await a.clock.advanceAsync(status.nextRetryAt! - a.clock.now());
    }
    // Paused: nothing runs by itself until the cool-down (30 minutes) is over.
    const paused = a.client.status;
    expect(paused.nextRetryAt! - a.clock.now()).toBe(30 * 60_000);
    const cycles = a.client.metrics().cycles;
    await a.clock.advanceAsync(10 * 60_000);
    expect(a.client.metrics().cycles).toBe(cycles);
    expect(a.client.status.state).toBe('paused');

    await h.startServer();
    await a.clock.advanceAsync(paused.nextRetryAt! - a.clock.now()); // the half-open trial
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    await until(() =>
      expect(a.client.status).toMatchObject({
        state: 'idle',
        circuit: 'closed',
        consecutiveFailures: 0,
        lastError: null,
        lastFailure: null,
        pending: 0,
        inFlight: null,
      }),
    );
    const seen = new Set(a.statuses.map((s) => s.state));
    expect([...seen]).toEqual(expect.arrayContaining(['pushing', 'backoff', 'paused', 'idle']));
    expect(a.client.metrics()).toMatchObject({ cyclesFailed: 5, circuitOpens: 1 });
    expect(a.client.metrics().retries).toBeGreaterThanOrEqual(5);
  });

  it('syncNow bypasses an open circuit', async () => {
    const a = await autoClient(h, 'a', { realtime: false, autoSync: { circuitThreshold: 1 } });
    await settled(a);
    await h.stopServer();
    await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'x' }));
    await a.clock.advanceAsync(2_000);
    await until(() => expect(a.client.status.state).toBe('paused'));
    await h.startServer();
    const result = await a.client.syncNow();
    expect(result.ok).toBe(true);
    expect(result.status).toMatchObject({ circuit: 'closed', pending: 0, lastError: null });
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1);
  });

  it('an explicit sync() that succeeds while the circuit is open closes it (evidence that the server is back)', async () => {
    const a = await autoClient(h, 'a', { realtime: false, autoSync: { circuitThreshold: 1 } });
    await settled(a);
    await h.stopServer();
    await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'x' }));
    await a.clock.advanceAsync(2_000);
    await until(() => expect(a.client.status).toMatchObject({ state: 'paused', circuit: 'open' }));
    await h.startServer();
    await a.client.sync();
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1);
    // No waiting out the cool-down: the scheduler's trial runs at once and closes the circuit.
    await until(() =>
      expect(a.client.status).toMatchObject({ circuit: 'closed', state: 'idle', lastError: null }),
    );
    expect(a.client.status.inSyncSince).not.toBeNull();
  });

  it('refreshes a refused token once and resumes, reconnecting the events stream with it', async () => {
    const stale = await signedToken('alice', { secret: 'a-secret-the-server-does-not-know!!' });
    const fresh = await h.token('alice');
    let current = stale;
    const asked: (GetTokenOptions | undefined)[] = [];
    const a = await autoClient(h, 'a', {
      getToken: (options) => {
        asked.push(options);
        if (options?.forceRefresh) current = fresh;
        return current;
      },
    });
    await until(() =>
      expect(a.client.status).toMatchObject({ state: 'idle', lastError: null, checkpoint: 0 }),
    );
    expect(a.statuses.map((s) => s.state)).toContain('blocked-auth');
    expect(asked.filter((o) => o?.forceRefresh === true)).toHaveLength(1);
    // The events stream was refused too; the refresh reconnected it at once with the new token.
    await until(() => expect(a.client.status.realtime).toBe('connected'));
    expect(a.client.metrics().authRefreshes).toBe(1);

    await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'after refresh' }));
    expect((await a.client.syncNow()).ok).toBe(true);
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1);
  });

  it('stays blocked and says so when the refresh gives no new token, until the app signs in again', async () => {
    const stale = await signedToken('alice', { secret: 'a-secret-the-server-does-not-know!!' });
    let current = stale;
    const a = await autoClient(h, 'a', { realtime: false, getToken: () => current });
    await until(() =>
      expect(a.client.status).toMatchObject({
        state: 'blocked-auth',
        auth: 'failed',
        lastError: expect.objectContaining({ code: 'unauthorized', status: 401 }) as unknown,
        lastFailure: expect.objectContaining({ class: 'auth' }) as unknown,
      }),
    );
    await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'waits' }));
    const cycles = a.client.metrics().cycles;
    await a.clock.advanceAsync(10 * 60_000);
    expect(a.client.metrics().cycles).toBe(cycles);
    expect(a.client.status.state).toBe('blocked-auth');
    expect(a.logs.map((l) => l.event)).toContain('auth-refreshed');

    current = await h.token('alice');
    const result = await a.client.syncNow();
    expect(result.ok).toBe(true);
    expect(result.status).toMatchObject({ state: 'idle', auth: 'ok', pending: 0 });
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1);
  });

  it('close() during an in-flight cycle leaves the outbox intact, and a new client on the file pushes it', async () => {
    let hold = false;
    let held = false;
    const a = await autoClient(h, 'a', {
      realtime: false,
      // The push never gets an answer: it waits until the client aborts it.
      fetch: (input, init) => {
        if (!hold || pathOf(input) === '/v1/snapshot') return fetch(input, init);
        held = true;
        return new Promise<Response>((_, reject) => {
          const signal = init?.signal;
          signal?.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
        });
      },
    });
    await settled(a);
    hold = true;
    const listId = uuid();
    await a.client.write((tx) => {
      tx.insert('lists', { id: listId, name: 'in flight' });
      tx.insert('todos', { id: uuid(), list_id: listId, title: 'milk' });
    });
    const now = a.client.syncNow();
    await until(() => expect(held).toBe(true));
    expect(a.client.status.inFlight).toMatchObject({ changes: 2 });
    await a.client.close();
    expect(await now).toMatchObject({ ok: false });
    expect(a.client.status.state).toBe('closed');

    const file = new Database(h.dbPath('a'), { readonly: true });
    expect(file.prepare('SELECT count(*) AS n FROM ferry_inflight').get()).toEqual({ n: 2 });
    file.close();

    const again = await h.client('a');
    const report = await again.sync();
    expect(report.pushed).toBe(2);
    expect(await serverRows(h, 'alice', 'todos')).toHaveLength(1);
    expect((await again.readStatus()).inFlight).toBeNull();
  });
});

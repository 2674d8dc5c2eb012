/**
 * The client syncs by itself, against the real server over HTTP on 127.0.0.1: debounced
 * writes, pokes from the server's events stream, the periodic safety net, connectivity and
 * visibility. Time is a manual clock, so "not before" is exact and nothing waits on timers.
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { autoClient, settled, until } from '../support/auto-sync.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** A URL where nothing listens: every request is refused. */
async function deadUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
  return url;
}

describe('the scheduler against a real server', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('pushes a write after the debounce and not before', async () => {
    const a = await autoClient(h, 'a', { realtime: false });
    await settled(a);
    await a.clock.advanceAsync(10_000); // past the throttle of the first cycle; nothing to do
    const before = a.pushes();
    const listId = uuid();
    await a.client.write((tx) => tx.insert('lists', { id: listId, name: 'debounced' }));
    expect(a.client.status.writesPendingSince).toBe(a.clock.now());

    await a.clock.advanceAsync(1_999);
    expect(a.client.status).toMatchObject({ state: 'idle', cycle: null });
    expect(a.pushes()).toBe(before);
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);

    await a.clock.advanceAsync(1);
    expect(a.client.status.state).toBe('pushing');
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    await until(() =>
      expect(a.client.status).toMatchObject({ state: 'idle', pending: 0, inFlight: null }),
    );
    expect(a.pushes()).toBe(before + 1);

    // The push is observable: counters, and a log line with the bundle id as correlation id.
    expect(a.client.metrics()).toMatchObject({ rowsPushed: 1, cyclesFailed: 0 });
    expect(a.client.metrics().bytesSent).toBeGreaterThan(0);
    expect(a.client.metrics().bytesReceived).toBeGreaterThan(0);
    expect(a.logs).toContainEqual(
      expect.objectContaining({
        event: 'bundle-committed',
        fields: expect.objectContaining({ correlationId: `${a.client.sourceId}:1` }) as unknown,
      }),
    );
  });

  it('stops background sync on disconnect, keeps writes local, and pushes them once on connect', async () => {
    const a = await autoClient(h, 'a', { realtime: false });
    await settled(a);
    await a.clock.advanceAsync(10_000);
    await a.client.disconnect();
    expect(a.client.status).toMatchObject({ autoSync: false, state: 'idle' });
    const before = a.pushes();
    const listId = uuid();
    await a.client.write((tx) => tx.insert('lists', { id: listId, name: 'offline' }));
    await a.clock.advanceAsync(60_000);
    expect(a.pushes()).toBe(before);
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
    expect((await a.client.readStatus()).pending).toBe(1);

    a.client.connect();
    a.client.connect(); // connecting twice starts one scheduler
    expect(a.client.status.autoSync).toBe(true);
    await a.clock.advanceAsync(10_000);
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    await until(() => expect(a.client.status).toMatchObject({ state: 'idle', pending: 0 }));
    expect(a.pushes()).toBe(before + 1);
  });

  it('starts background sync on connect for a client made without autoSync, and runs it on tablesChanged', async () => {
    const a = await autoClient(h, 'a', { realtime: false, autoSync: false });
    expect(a.client.status.autoSync).toBe(false);
    a.client.connect();
    await settled(a);
    await a.clock.advanceAsync(10_000);
    const before = a.pushes();
    // Another connection to the file writes; the client hears of it through tablesChanged.
    const db = new Database(h.dbPath('a'));
    db.prepare('INSERT INTO lists (id, name) VALUES (?, ?)').run(uuid(), 'from elsewhere');
    db.close();
    a.client.tablesChanged(['lists']);
    await a.clock.advanceAsync(2_000);
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    expect(a.pushes()).toBe(before + 1);
    await a.client.disconnect();
    expect(a.client.status.autoSync).toBe(false);
  });

  it('turns 50 rapid writes into one push', async () => {
    const a = await autoClient(h, 'a', { realtime: false });
    await settled(a);
    await a.clock.advanceAsync(10_000);
    const before = a.pushes();
    for (let i = 0; i < 50; i++) {
      await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: `list ${i}` }));
      await a.clock.advanceAsync(20);
    }
    expect(a.client.status.state).toBe('idle');
    await a.clock.advanceAsync(2_000);
    await until(() => expect(a.client.status).toMatchObject({ state: 'idle', pending: 0 }));
    expect(a.pushes()).toBe(before + 1);
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(50);
    expect(a.client.metrics().rowsPushed).toBe(50);
  });

  it('pulls on a poke from another device’s push without waiting for the periodic timer', async () => {
    const a = await autoClient(h, 'a');
    // The first cycle, and the catch-up pull that follows the events stream connecting.
    await until(() => expect(a.client.status.realtime).toBe('connected'));
    await settled(a);
    await a.clock.advanceAsync(2_000);
    await until(() => expect(a.client.metrics().cyclesSucceeded).toBeGreaterThanOrEqual(2));
    await settled(a);
    await a.clock.advanceAsync(2_000); // past the throttle; the periodic timer is 26 s away
    const cycles = a.client.metrics().cycles;

    const b = await h.client('b'); // explicit sync
    const listId = uuid();
    await b.write((tx) => tx.insert('lists', { id: listId, name: 'from b' }));
    await b.sync();

    // The clock stands still: only the poke can start the pull.
    await until(async () => expect(await a.client.getRow('lists', listId)).toBeDefined());
    expect(a.client.metrics().pokes).toBeGreaterThanOrEqual(1);
    expect(a.client.metrics().cycles).toBe(cycles + 1);
    expect(await rowsOf(a.client, 'lists')).toEqual(await rowsOf(b, 'lists'));
  });

  it('tells the app about remote changes with the tables they touched', async () => {
    const a = await autoClient(h, 'a');
    const changes: string[][] = [];
    a.client.subscribe((event) => {
      if (event.type === 'remote-change') changes.push([...event.tables]);
    });
    await until(() => expect(a.client.status.realtime).toBe('connected'));
    await settled(a);
    await a.clock.advanceAsync(4_000);
    await settled(a);
    const b = await h.client('b');
    const listId = uuid();
    await b.write((tx) => {
      tx.insert('lists', { id: listId, name: 'from b' });
      tx.insert('todos', { id: uuid(), list_id: listId, title: 'milk' });
    });
    await b.sync();
    await until(() => expect(changes.at(-1)?.sort()).toEqual(['lists', 'todos']));
  });

  it('still syncs through the periodic timer when the events endpoint is unreachable', async () => {
    const a = await autoClient(h, 'a', { realtime: { url: `${await deadUrl()}/v1/events` } });
    await settled(a);
    await until(() => expect(a.logs.map((l) => l.event)).toContain('events-failed'));
    expect(a.client.status).toMatchObject({ realtime: 'disconnected', lastError: null });
    const cycles = a.client.metrics().cycles;

    const b = await h.client('b');
    const listId = uuid();
    await b.write((tx) => tx.insert('lists', { id: listId, name: 'from b' }));
    await b.sync();

    await a.clock.advanceAsync(29_000);
    expect(a.client.metrics().cycles).toBe(cycles);
    expect(await a.client.getRow('lists', listId)).toBeUndefined();
    await a.clock.advanceAsync(1_000);
    await until(async () => expect(await a.client.getRow('lists', listId)).toBeDefined());
    expect(a.client.metrics().cycles).toBe(cycles + 1);
  });

  it('pauses while the probe says offline, and syncs at once when it says online again', async () => {
    let networkUp = false;
    const a = await autoClient(h, 'a', {
      realtime: false,
      online: () => networkUp,
      onlineProbeIntervalMs: 5_000,
      // What a real outage looks like to fetch: a refused connection.
      fetch: (input, init) =>
        networkUp ? fetch(input, init) : Promise.reject(new TypeError('fetch failed')),
    });
    expect(a.client.status).toMatchObject({ state: 'offline', online: false });
    const listId = uuid();
    await a.client.write((tx) => tx.insert('lists', { id: listId, name: 'offline' }));
    await a.clock.advanceAsync(60_000);
    expect(a.requests).toEqual([]);
    // The status counts a write on the next turn of the event loop (bursts share one refresh).
    await until(() => expect(a.client.status).toMatchObject({ state: 'offline', pending: 1 }));

    networkUp = true;
    await a.clock.advanceAsync(5_000); // the probe's next question
    expect(a.client.status.state).not.toBe('offline');
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    await settled(a);

    // The network goes away under a write: the failure asks the probe, which says offline.
    networkUp = false;
    await a.client.write((tx) => tx.update('lists', listId, { name: 'renamed offline' }));
    await a.clock.advanceAsync(2_000);
    await until(() => expect(a.client.status.state).toBe('offline'));
    expect(a.client.status.lastError?.code).toBe('network');
    networkUp = true;
    await a.clock.advanceAsync(5_000);
    await until(async () =>
      expect((await serverRows(h, 'alice', 'lists'))[0]?.name).toBe('renamed offline'),
    );
  });

  it('follows setOnline and setForeground from the app', async () => {
    const a = await autoClient(h, 'a');
    await until(() => expect(a.client.status.realtime).toBe('connected'));
    await settled(a);
    a.client.setOnline(false);
    expect(a.client.status).toMatchObject({ state: 'offline', online: false });
    await a.client.write((tx) => tx.insert('lists', { id: uuid(), name: 'x' }));
    await a.clock.advanceAsync(60_000);
    expect(a.client.status.state).toBe('offline');
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
    a.client.setOnline(true); // reconnect: at once, no debounce
    expect(a.client.status.state).toBe('pushing');
    await until(async () => expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1));
    // The events stream reconnected too; its catch-up pull follows after the throttle.
    await until(() => expect(a.client.status.realtime).toBe('connected'));
    await a.clock.advanceAsync(2_000);
    await settled(a);

    // In the background: no events stream, and the periodic sync every 5 minutes.
    a.client.setForeground(false);
    expect(a.client.status.foreground).toBe(false);
    await until(() => expect(a.client.status.realtime).toBe('disconnected'));
    const cycles = a.client.metrics().cycles;
    await a.clock.advanceAsync(60_000);
    expect(a.client.metrics().cycles).toBe(cycles);
    // Exactly to the periodic time: jumping past it would time the cycle's request out.
    await a.clock.advanceAsync(4 * 60_000);
    await until(() => expect(a.client.metrics().cycles).toBe(cycles + 1));
    await settled(a);
    expect(a.client.metrics().cyclesFailed).toBe(0);
    a.client.setForeground(true);
    await until(() => expect(a.client.status.realtime).toBe('connected'));
  });
});

/**
 * Devices catch up by themselves once the server is back: on real time, over HTTP, with the
 * default schedule. The real server is stopped for longer than it takes to open the circuit
 * (five failed cycles), then started again on the same port; the client must sync without
 * waiting out the 30 minute cool-down, on evidence that the server is back: its events stream
 * connecting again, or the app's online signal. While the server is down, the status never says
 * "in sync" (`inSyncSince` stays null through every retry and trial).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createSeededRandom,
  type ClientOptions,
  type ClientStatus,
  type FerryClient,
  type LogEntry,
} from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { until } from '../support/auto-sync.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** Generous: the circuit opens within about 15 s, and the events stream retries within 60 s. */
const DEADLINE_MS = 150_000;

describe('a device whose circuit opened while the server was down', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /**
   * A client with the default schedule on the system clock; returns it once it is in sync, with
   * every status and log entry it publishes from then on.
   */
  async function device(options: Partial<ClientOptions<TodoSchema>>) {
    const statuses: ClientStatus[] = [];
    const logs: LogEntry[] = [];
    const seed = Math.floor(Math.random() * 2 ** 31);
    console.log(`circuit catch-up: jitter SEED=${seed}`);
    const client: FerryClient<TodoSchema> = await h.client('a', 'alice', {
      autoSync: {}, // the default schedule: threshold 5, cool-down 30 min
      random: createSeededRandom(seed),
      onLog: (entry) => logs.push(entry),
      ...options,
    });
    client.subscribe((event) => {
      if (event.type === 'status') statuses.push(event.status);
    });
    await until(() => expect(client.status.inSyncSince).not.toBeNull(), DEADLINE_MS);
    return { client, statuses, logs };
  }

  /** Stops the server, writes, and waits until the circuit is open; returns the write's id. */
  async function openTheCircuit(client: FerryClient<TodoSchema>): Promise<string> {
    await h.stopServer();
    const id = uuid();
    await client.write((tx) => tx.insert('lists', { id, name: 'written while down' }));
    await until(
      () => expect(client.status).toMatchObject({ state: 'paused', circuit: 'open' }),
      DEADLINE_MS,
    );
    const paused = client.status;
    expect(paused.consecutiveFailures).toBeGreaterThanOrEqual(5);
    expect(paused.inSyncSince).toBeNull();
    expect(paused.lastFailure).toMatchObject({ class: 'transient', code: 'network' });
    return id;
  }

  /** Another device's write, made on the server once it is back. */
  async function writeElsewhere(): Promise<string> {
    const other = await h.client('b', 'alice');
    const id = uuid();
    await other.write((tx) => tx.insert('lists', { id, name: 'written elsewhere' }));
    await other.sync();
    return id;
  }

  /** Every status from the first failure until `until` said "not in sync", retries included. */
  function expectNeverInSyncWhileDown(statuses: readonly ClientStatus[], count: number): void {
    const start = statuses.findIndex((s) => s.lastFailure !== null);
    expect(start).toBeGreaterThanOrEqual(0);
    const whileDown = statuses.slice(start, count);
    expect(whileDown.filter((s) => s.inSyncSince !== null)).toEqual([]);
    // The old status said "in sync" exactly here: a retry running after a failure.
    expect(whileDown.some((s) => s.state === 'pushing' && s.lastFailure !== null)).toBe(true);
  }

  it(
    'catches up when its events stream connects again',
    async () => {
      const { client, statuses, logs } = await device({});
      await until(() => expect(client.status.realtime).toBe('connected'), DEADLINE_MS);
      const mine = await openTheCircuit(client);
      const cycles = client.metrics().cycles;

      await h.startServer(); // the same port
      const theirs = await writeElsewhere();
      const downUntil = statuses.length;
      // No syncNow, no setOnline: the stream reconnects by itself, and that is the evidence.
      await until(
        () =>
          expect(client.status).toMatchObject({
            state: 'idle',
            circuit: 'closed',
            realtime: 'connected',
            lastFailure: null,
            pending: 0,
            inFlight: null,
          }),
        DEADLINE_MS,
      );
      await until(async () => {
        expect((await rowsOf(client, 'lists')).map((row) => row['id'])).toContain(theirs);
      }, DEADLINE_MS);
      expect((await serverRows(h, 'alice', 'lists')).map((row) => row['id'])).toContain(mine);
      expect(client.status.inSyncSince).not.toBeNull();
      expectNeverInSyncWhileDown(statuses, downUntil);
      expect(client.metrics().circuitOpens).toBeGreaterThanOrEqual(1);
      // One half-open trial closed the circuit: one cycle for it, then at most a follow-up pull.
      expect(client.metrics().cycles - cycles).toBeLessThanOrEqual(3);
      expect(logs.some((l) => l.event === 'events-connected')).toBe(true);
    },
    2 * DEADLINE_MS,
  );

  it(
    'catches up on the app’s online signal, without an events stream',
    async () => {
      const { client, statuses } = await device({ realtime: false });
      const mine = await openTheCircuit(client);

      await h.startServer();
      const theirs = await writeElsewhere();
      const downUntil = statuses.length;
      client.setOnline(true); // what an app does on the platform's "online" event
      await until(
        () =>
          expect(client.status).toMatchObject({
            state: 'idle',
            circuit: 'closed',
            lastFailure: null,
            pending: 0,
          }),
        DEADLINE_MS,
      );
      expect(client.status.inSyncSince).not.toBeNull();
      expect((await serverRows(h, 'alice', 'lists')).map((row) => row['id'])).toContain(mine);
      expect((await rowsOf(client, 'lists')).map((row) => row['id'])).toContain(theirs);
      expectNeverInSyncWhileDown(statuses, downUntil);
    },
    2 * DEADLINE_MS,
  );
});

// Against the real Ferry server over HTTP on 127.0.0.1 (root test/: the client library itself
// never depends on the server).
import { randomUUID } from 'node:crypto';
import { defineSchema } from '@ferry/protocol';
import { createFerryServer, createSqliteStore, signToken, type FerryServer } from '@ferry/server';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createManualClock } from '../../packages/client/src/scheduler/clock.js';
import {
  createSyncScheduler,
  type SyncScheduler,
} from '../../packages/client/src/scheduler/sync-scheduler.js';
import type { CycleKind } from '../../packages/client/src/scheduler/sync-state-machine.js';
import {
  createEventsSubscription,
  type EventsSubscription,
} from '../../packages/client/src/realtime/events-subscription.js';

const SECRET = 'realtime-test-secret-of-at-least-32-bytes';
const schema = defineSchema({
  tables: {
    notes: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        body: { type: 'text', notNull: true },
      },
    },
  },
});

const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 10_000, interval: 10 });

let server: FerryServer;
let baseUrl: string;
let subscription: EventsSubscription | null = null;
let scheduler: SyncScheduler | null = null;

beforeEach(async () => {
  server = await createFerryServer({
    schema,
    store: createSqliteStore({ path: ':memory:' }),
    auth: { jwtSecret: SECRET },
    logger: false,
    externalPollMs: 0,
  });
  baseUrl = (await server.listen({ host: '127.0.0.1', port: 0 })).url;
});

afterEach(async () => {
  await scheduler?.close();
  await subscription?.close();
  scheduler = null;
  subscription = null;
  await server.close();
});

/** A push from another device of `userId`: a plain request, not through the subscription. */
async function pushNote(userId: string): Promise<number> {
  const id = randomUUID();
  const response = await fetch(`${baseUrl}/v1/push`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await signToken({ secret: SECRET, userId })}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      protocol: 1,
      sourceId: randomUUID(),
      sourceBundleId: 1,
      changes: [
        { table: 'notes', pk: id, op: 'upsert', baseVersion: null, row: { id, body: 'hi' } },
      ],
    }),
  });
  expect(response.status).toBe(200);
  const body = (await response.json()) as { bundleSeq: number };
  return body.bundleSeq;
}

describe('the events subscription against the Ferry server', () => {
  it.each(['header', 'query'] as const)(
    'gets a poke when another request pushes for the same user (token in the %s)',
    async (tokenIn) => {
      const token = await signToken({ secret: SECRET, userId: 'alice' });
      const pokes: Array<number | null> = [];
      subscription = createEventsSubscription({
        url: `${baseUrl}/v1/events`,
        getToken: () => token,
        tokenIn,
        onPoke: (seq) => pokes.push(seq),
      });
      subscription.start();
      await until(() => expect(subscription?.status.state).toBe('connected'));

      await pushNote('bob'); // another user's bundle: no poke for alice
      const seq = await pushNote('alice');
      expect(seq).toBe(1);
      await until(() => expect(pokes).toEqual([1]));
    },
  );

  it('reports the end of the stream at server shutdown and waits at least the server retry hint', async () => {
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const clock = createManualClock(Date.now());
    const connections: boolean[] = [];
    subscription = createEventsSubscription({
      url: `${baseUrl}/v1/events`,
      getToken: () => token,
      clock,
      onPoke: () => {},
      onConnectionChange: (connected) => connections.push(connected),
    });
    subscription.start();
    await until(() => expect(connections).toEqual([true]));
    await server.close();
    await until(() => expect(connections).toEqual([true, false]));
    await until(() => expect(subscription?.status.state).toBe('waiting'));
    // The server's stream starts with `retry: 3000`.
    expect(subscription.status.nextAttemptAt! - clock.now()).toBeGreaterThanOrEqual(3_000);
  });

  it('drives a pull of the scheduler on a poke, without waiting for the periodic timer', async () => {
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const clock = createManualClock(Date.now());
    const cycles: CycleKind[] = [];
    const events = createEventsSubscription({
      url: `${baseUrl}/v1/events`,
      getToken: () => token,
      clock,
      onPoke: (seq) => scheduler?.poke(seq),
      onConnectionChange: (connected) => scheduler?.setRealtimeConnected(connected),
    });
    subscription = events;
    scheduler = createSyncScheduler({
      clock,
      syncOnStart: false,
      events,
      runCycle: async (kind) => {
        cycles.push(kind);
        return {};
      },
    });
    scheduler.start();
    await until(() => expect(scheduler?.status.realtime).toBe('connected'));
    await until(() => expect(cycles).toEqual(['pull'])); // catch-up on connect
    clock.advance(2_000); // the throttle; the periodic sync is 30 s away

    await pushNote('alice');
    await until(() => expect(cycles).toEqual(['pull', 'pull']));
    expect(scheduler.metrics().pokes).toBeGreaterThanOrEqual(1);
  });
});

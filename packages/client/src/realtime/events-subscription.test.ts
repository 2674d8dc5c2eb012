import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createManualClock, type ManualClock } from '../scheduler/clock.js';
import { createSeededRandom } from '../scheduler/seeded-random.js';
import { createSyncScheduler } from '../scheduler/sync-scheduler.js';
import type { CycleKind } from '../scheduler/sync-state-machine.js';
import {
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  createEventsSubscription,
  parseRetryAfter,
  type EventsSubscription,
  type EventsSubscriptionOptions,
} from './events-subscription.js';
import { startSseTestServer, type SseTestServer } from './test-support/sse-test-server.js';

/** Waits for real I/O (not for time): polls until `check` passes. */
const until = (check: () => void): Promise<void> =>
  vi.waitFor(check, { timeout: 5_000, interval: 5 });

let server: SseTestServer;
let clock: ManualClock;
let subscription: EventsSubscription | null;

beforeEach(async () => {
  server = await startSseTestServer(['good', 'fresh']);
  clock = createManualClock(Date.UTC(2026, 0, 1));
  subscription = null;
});

afterEach(async () => {
  await subscription?.close();
  await server.close();
});

function subscribe(overrides: Partial<EventsSubscriptionOptions> = {}) {
  const pokes: Array<number | null> = [];
  const connections: boolean[] = [];
  const errors: unknown[] = [];
  let token = 'good';
  subscription = createEventsSubscription({
    url: server.url,
    getToken: () => token,
    clock,
    random: createSeededRandom(11),
    onPoke: (seq) => pokes.push(seq),
    onConnectionChange: (connected) => connections.push(connected),
    onError: (error) => errors.push(error),
    ...overrides,
  });
  return {
    sub: subscription,
    pokes,
    connections,
    errors,
    setToken: (next: string) => {
      token = next;
    },
  };
}

/** Advances the manual clock to the subscription's next attempt. */
async function toNextAttempt(sub: EventsSubscription): Promise<void> {
  await until(() => expect(sub.status.state).toBe('waiting'));
  clock.advanceTo(sub.status.nextAttemptAt!);
}

describe('the events subscription over real HTTP', () => {
  it('receives pokes with the token in the Authorization header and reports the connection', async () => {
    const { sub, pokes, connections } = subscribe();
    sub.start();
    await until(() => expect(server.openStreams()).toBe(1));
    await until(() => expect(sub.status.state).toBe('connected'));
    expect(connections).toEqual([true]);
    server.poke(58);
    server.heartbeat();
    server.poke(59);
    await until(() => expect(pokes).toEqual([58, 59]));
    expect(server.tokensSeen).toEqual(['good']);
  });

  it('can put the token in the access_token query parameter (the browser path)', async () => {
    const { sub, pokes } = subscribe({ tokenIn: 'query' });
    sub.start();
    await until(() => expect(server.openStreams()).toBe(1));
    server.poke(3);
    await until(() => expect(pokes).toEqual([3]));
    expect(server.tokensSeen).toEqual(['good']);
  });

  it('reconnects with backoff after the server ends the stream', async () => {
    const { sub, pokes, connections } = subscribe();
    sub.start();
    await until(() => expect(server.openStreams()).toBe(1));
    server.heartbeat();
    server.endAll();
    await until(() => expect(connections).toEqual([true, false]));
    await until(() => expect(sub.status.state).toBe('waiting'));
    // After a healthy connection the first retry comes within the base delay.
    expect(sub.status.nextAttemptAt! - clock.now()).toBeLessThan(1_000);
    expect(server.acceptedStreams()).toBe(1);
    await toNextAttempt(sub);
    await until(() => expect(server.openStreams()).toBe(1));
    expect(server.acceptedStreams()).toBe(2);
    await until(() => expect(connections).toEqual([true, false, true]));
    server.poke(7);
    await until(() => expect(pokes).toEqual([7]));
  });

  it('backs off further on each failed attempt, and honours Retry-After', async () => {
    server.refuse({
      status: 503,
      body: JSON.stringify({ error: { code: 'unavailable', message: 'shutting down' } }),
      retryAfter: '120',
    });
    const { sub, connections } = subscribe();
    sub.start();
    await until(() => expect(sub.status.state).toBe('waiting'));
    expect(sub.status.lastError).toMatchObject({
      class: 'rate-limited',
      code: 'unavailable',
      status: 503,
      retryAfterMs: 120_000,
    });
    expect(sub.status.nextAttemptAt! - clock.now()).toBeGreaterThanOrEqual(120_000);
    server.refuse({ status: 502, body: '<html>bad gateway</html>', contentType: 'text/html' });
    await toNextAttempt(sub);
    await until(() => expect(sub.status.attempts).toBe(2));
    expect(sub.status.lastError).toMatchObject({ class: 'transient', code: 'bad_response' });
    server.refuse(null);
    await toNextAttempt(sub);
    await until(() => expect(sub.status.state).toBe('connected'));
    expect(connections).toEqual([true]);
  });

  it('after a 401 retries with a fresh token, and at once when told to reconnect', async () => {
    const { sub, setToken, errors } = subscribe();
    server.validTokens.delete('good');
    sub.start();
    await until(() => expect(sub.status.state).toBe('waiting'));
    expect(sub.status.lastError).toMatchObject({
      class: 'auth',
      code: 'unauthorized',
      status: 401,
    });
    expect(errors).toHaveLength(1);
    // The scheduler refreshed the token: reconnect now, without waiting for the backoff.
    setToken('fresh');
    sub.reconnect();
    await until(() => expect(sub.status.state).toBe('connected'));
    expect(server.tokensSeen).toEqual(['good', 'fresh']);
  });

  it('drops a connection that stays silent past the heartbeat timeout, then reconnects', async () => {
    const { sub, connections } = subscribe();
    sub.start();
    await until(() => expect(sub.status.state).toBe('connected'));
    // Heartbeats keep it alive across more than the timeout in total.
    clock.advance(30_000);
    server.heartbeat();
    await until(() => expect(sub.status.lastDataAt).toBe(clock.now()));
    clock.advance(30_000);
    expect(sub.status.state).toBe('connected');
    expect(connections).toEqual([true]);
    // Then silence.
    clock.advance(DEFAULT_HEARTBEAT_TIMEOUT_MS);
    await until(() => expect(connections).toEqual([true, false]));
    await until(() => expect(server.clientClosedStreams()).toBe(1));
    expect(sub.status.lastError).toMatchObject({ class: 'transient', code: 'timeout' });
    await toNextAttempt(sub);
    await until(() => expect(connections).toEqual([true, false, true]));
    expect(server.acceptedStreams()).toBe(2);
  });

  it('gives up on a server that never answers, after the heartbeat timeout', async () => {
    server.hang(true);
    const { sub, connections } = subscribe();
    sub.start();
    await until(() => expect(server.tokensSeen).toHaveLength(1));
    expect(sub.status.state).toBe('connecting');
    clock.advance(DEFAULT_HEARTBEAT_TIMEOUT_MS - 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sub.status.state).toBe('connecting');
    clock.advance(1);
    await until(() => expect(sub.status.state).toBe('waiting'));
    expect(sub.status.lastError).toMatchObject({ class: 'transient', code: 'timeout' });
    server.hang(false);
    await toNextAttempt(sub);
    await until(() => expect(connections).toEqual([true]));
  });

  it('closes the connection on stop, and opens a new one on start', async () => {
    const { sub, connections } = subscribe();
    sub.start();
    await until(() => expect(connections).toEqual([true]));
    sub.stop();
    expect(sub.status.state).toBe('stopped');
    await until(() => expect(server.clientClosedStreams()).toBe(1));
    await until(() => expect(connections).toEqual([true, false]));
    sub.start();
    await until(() => expect(connections).toEqual([true, false, true]));
    expect(server.acceptedStreams()).toBe(2);
    await sub.close();
    expect(sub.status.state).toBe('closed');
    await until(() => expect(server.clientClosedStreams()).toBe(2));
    sub.start();
    await new Promise((resolve) => setImmediate(resolve));
    expect(server.acceptedStreams()).toBe(2);
  });

  it('reports a malformed poke and still pulls; ignores unknown events', async () => {
    const { sub, pokes, errors } = subscribe();
    sub.start();
    await until(() => expect(server.openStreams()).toBe(1));
    server.write('event: poke\ndata: {"bundleSeq": "x"}\n\n');
    server.write('event: future-thing\ndata: {}\n\n');
    server.write('data: a message event\n\n');
    server.poke(9);
    await until(() => expect(pokes).toEqual([null, 9]));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ code: 'bad_response' });
  });

  it('refuses an answer that is not an event stream', async () => {
    server.refuse({ status: 200, body: '{"hello": 1}' });
    const { sub, connections } = subscribe();
    sub.start();
    await until(() => expect(sub.status.state).toBe('waiting'));
    expect(sub.status.lastError).toMatchObject({ code: 'bad_response', class: 'server-error' });
    expect(connections).toEqual([]);
  });

  it('treats an unreachable server as a network failure and keeps trying', async () => {
    const { sub } = subscribe({ url: 'http://127.0.0.1:1/v1/events' });
    sub.start();
    await until(() => expect(sub.status.state).toBe('waiting'));
    expect(sub.status.lastError).toMatchObject({ class: 'transient', code: 'network' });
    await toNextAttempt(sub);
    await until(() => expect(sub.status.attempts).toBe(2));
  });

  it('rejects bad options', () => {
    expect(() =>
      createEventsSubscription({
        url: server.url,
        getToken: () => 't',
        onPoke: () => {},
        heartbeatTimeoutMs: 0,
      }),
    ).toThrow(/heartbeatTimeoutMs/);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates', () => {
    const now = Date.UTC(2026, 0, 1, 0, 0, 0);
    expect(parseRetryAfter('120', now)).toBe(120);
    expect(parseRetryAfter(' 7 ', now)).toBe(7);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:01:00 GMT', now)).toBe(60);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});

describe('the scheduler with the events subscription', () => {
  it('pulls on a poke from the server, and catches up once when the stream connects', async () => {
    const cycles: CycleKind[] = [];
    let scheduler: ReturnType<typeof createSyncScheduler> | null = null;
    const events = createEventsSubscription({
      url: server.url,
      getToken: () => 'good',
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
        return { bundleSeq: 10 };
      },
    });
    scheduler.start();
    await until(() => expect(scheduler.status.realtime).toBe('connected'));
    await until(() => expect(cycles).toEqual(['pull'])); // the catch-up pull
    await until(() => expect(scheduler.status.state).toBe('idle'));

    clock.advance(5_000); // past the throttle; far before the 30 s periodic sync
    server.poke(10); // already applied: no pull
    server.poke(11);
    await until(() => expect(cycles).toEqual(['pull', 'pull']));
    expect(scheduler.metrics().pokes).toBe(2);

    // The stream goes away: the scheduler knows, and the periodic sync still runs.
    await events.close();
    await until(() => expect(scheduler.status.realtime).toBe('disconnected'));
    clock.advance(30_000);
    await until(() => expect(cycles).toEqual(['pull', 'pull', 'full']));
    await scheduler.close();
  });
});

import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import type { Failure } from './classify-failure.js';
import { createManualClock } from './clock.js';
import type { LogEntry } from './log-entry.js';
import { createSeededRandom } from './seeded-random.js';
import {
  createSyncScheduler,
  type CycleContext,
  type SyncSchedulerOptions,
} from './sync-scheduler.js';
import type { CycleKind, CycleOutcome } from './sync-state-machine.js';
import type { SyncStatus } from './sync-status.js';

const T0 = 1_700_000_000_000;

/** One call of the fake engine's runCycle, settled by the test. */
interface CycleCall {
  readonly kind: CycleKind;
  readonly signal: AbortSignal;
  readonly cycle: CycleContext;
  readonly startedAt: number;
  succeed(outcome?: CycleOutcome): void;
  fail(error: unknown): void;
}

function harness(options: Partial<SyncSchedulerOptions> = {}) {
  const clock = createManualClock(T0);
  const calls: CycleCall[] = [];
  const statuses: SyncStatus[] = [];
  const errors: Array<{ error: unknown; failure: Failure | null }> = [];
  const logs: LogEntry[] = [];
  const events = { starts: 0, stops: 0, reconnects: 0 };
  const scheduler = createSyncScheduler({
    clock,
    random: createSeededRandom(7),
    syncOnStart: false,
    runCycle: (kind, signal, cycle) =>
      new Promise<CycleOutcome | undefined>((resolve, reject) => {
        // Like the real engine: an abort ends the cycle with an aborted error.
        signal.addEventListener('abort', () =>
          reject(new FerryError('aborted', 'aborted', { cause: signal.reason })),
        );
        calls.push({
          kind,
          signal,
          cycle,
          startedAt: clock.now(),
          succeed: (outcome) => resolve(outcome),
          fail: reject,
        });
      }),
    events: {
      start: () => void events.starts++,
      stop: () => void events.stops++,
      reconnect: () => void events.reconnects++,
    },
    onStatus: (status) => statuses.push(status),
    onError: (error, failure) => errors.push({ error, failure }),
    onLog: (entry) => logs.push(entry),
    ...options,
  });
  const last = (): CycleCall => {
    const call = calls.at(-1);
    if (call === undefined) throw new Error('no cycle has started');
    return call;
  };
  return { clock, calls, statuses, errors, logs, events, scheduler, last };
}

describe('the sync scheduler', () => {
  it('runs a write after the debounce and not before', async () => {
    const { clock, calls, scheduler } = harness();
    scheduler.start();
    scheduler.notifyWrite();
    await clock.advanceAsync(1_999);
    expect(calls).toHaveLength(0);
    expect(scheduler.status.writesPendingSince).toBe(T0);
    await clock.advanceAsync(1);
    expect(calls.map((c) => c.kind)).toEqual(['push']);
    expect(calls[0]!.startedAt).toBe(T0 + 2_000);
    expect(scheduler.status.state).toBe('pushing');
    await scheduler.close();
  });

  it('turns 50 rapid writes into one cycle', async () => {
    const { clock, calls, scheduler, last } = harness();
    scheduler.start();
    for (let i = 0; i < 50; i++) {
      scheduler.notifyWrite();
      await clock.advanceAsync(20);
    }
    await clock.advanceAsync(2_000);
    expect(calls).toHaveLength(1);
    last().succeed();
    await clock.advanceAsync(20_000);
    expect(calls.map((c) => c.kind)).toEqual(['push']);
    expect(scheduler.metrics()).toMatchObject({ cycles: 1, pushes: 1, cyclesSucceeded: 1 });
    await scheduler.close();
  });

  it('holds the 10 s maximum wait under a steady stream of writes', async () => {
    const { clock, calls, scheduler } = harness();
    scheduler.start();
    const writer = async (until: number) => {
      while (clock.now() < until) {
        scheduler.notifyWrite();
        await clock.advanceAsync(500);
      }
    };
    await writer(T0 + 9_500);
    scheduler.notifyWrite(); // at T0 + 9_500
    await clock.advanceAsync(499);
    expect(calls).toHaveLength(0);
    await clock.advanceAsync(1);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.startedAt).toBe(T0 + 10_000);
    await scheduler.close();
  });

  it('aborts the in-flight cycle on close and waits for it to settle', async () => {
    const { calls, scheduler, events } = harness({ syncOnStart: true });
    scheduler.start();
    expect(calls).toHaveLength(1);
    const signal = calls[0]!.signal;
    expect(signal.aborted).toBe(false);
    const closing = scheduler.close();
    expect(signal.aborted).toBe(true);
    await closing;
    expect(scheduler.status.state).toBe('closed');
    expect(events.stops).toBe(1);
    expect(scheduler.metrics().cyclesAborted).toBe(1);
    // Nothing runs after close.
    scheduler.notifyWrite();
    scheduler.poke(9);
    expect(calls).toHaveLength(1);
    await expect(scheduler.syncNow()).resolves.toMatchObject({ ok: false });
    await expect(scheduler.close()).resolves.toBeUndefined();
  });

  it('shows a failure in the status, reports it, backs off and recovers by itself', async () => {
    const { clock, calls, scheduler, errors, last } = harness({ syncOnStart: true });
    scheduler.start();
    const error = new FerryError('unavailable', 'overloaded', {
      details: { retryAfterSeconds: 60, correlationId: 'bundle-42' },
    });
    last().fail(error);
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({
      state: 'backoff',
      consecutiveFailures: 1,
      lastError: { class: 'rate-limited', code: 'unavailable', correlationId: 'bundle-42', at: T0 },
    });
    expect(scheduler.status.nextRetryAt).toBeGreaterThanOrEqual(T0 + 60_000);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error).toBe(error);
    expect(errors[0]!.failure?.class).toBe('rate-limited');

    await clock.advanceAsync(59_999);
    expect(calls).toHaveLength(1);
    await clock.advanceAsync(scheduler.status.nextRetryAt! - clock.now());
    expect(calls).toHaveLength(2);
    last().succeed();
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({
      state: 'idle',
      consecutiveFailures: 0,
      lastError: null,
    });
    expect(scheduler.metrics()).toMatchObject({ cycles: 2, cyclesFailed: 1, retries: 1 });
    await scheduler.close();
  });

  it('keeps retrying while the server is down, opens the circuit, and closes it on a good trial', async () => {
    const { clock, calls, scheduler, logs, last } = harness({ syncOnStart: true });
    scheduler.start();
    const seen = new Set<string>();
    scheduler.subscribe((status) => seen.add(status.state));
    for (let i = 0; i < 5; i++) {
      last().fail(new FerryError('network', 'connect ECONNREFUSED 127.0.0.1:8787'));
      await clock.advanceAsync(0);
      if (i < 4) {
        await clock.advanceAsync(scheduler.status.nextRetryAt! - clock.now());
      }
    }
    expect(calls).toHaveLength(5);
    expect(scheduler.status).toMatchObject({
      state: 'paused',
      circuit: 'open',
      consecutiveFailures: 5,
      lastError: { class: 'transient', code: 'network' },
    });
    expect(logs.map((l) => l.event)).toContain('circuit-opened');
    expect(scheduler.metrics().circuitOpens).toBe(1);

    // No automatic sync while open on writes; a poke proves the server is reachable, so it
    // brings one half-open trial forward to the gate (16 s after the last failure).
    const openedAt = clock.now();
    scheduler.notifyWrite();
    scheduler.poke(3);
    expect(scheduler.status.nextRetryAt).toBe(openedAt + 16_000);
    await clock.advanceAsync(15_000);
    expect(calls).toHaveLength(5);
    await clock.advanceAsync(1_000);
    expect(calls).toHaveLength(6);
    expect(scheduler.status.circuit).toBe('half-open');
    last().fail(new FerryError('network', 'connect ECONNREFUSED 127.0.0.1:8787'));
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({ state: 'paused', circuit: 'open' });
    const reopenedAt = clock.now();

    // Writes still do nothing; the cool-down ends: one half-open trial.
    scheduler.notifyWrite();
    await clock.advanceAsync(29 * 60_000);
    expect(calls).toHaveLength(6);
    await clock.advanceAsync(reopenedAt + 30 * 60_000 - clock.now());
    expect(calls).toHaveLength(7);
    expect(scheduler.status.circuit).toBe('half-open');
    last().succeed();
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({ state: 'idle', circuit: 'closed' });
    expect([...seen]).toEqual(expect.arrayContaining(['backoff', 'pushing', 'paused', 'idle']));
    await scheduler.close();
  });

  it('resolves syncNow when the cycle run for it finishes, bypassing an open circuit', async () => {
    const { clock, scheduler, last } = harness({ syncOnStart: true });
    scheduler.start();
    const first = last();
    const requested = scheduler.syncNow(); // while a cycle is in flight: waits for the next one
    let settled = false;
    void requested.then(() => {
      settled = true;
    });
    first.succeed();
    await clock.advanceAsync(0);
    expect(settled).toBe(false);
    const second = last();
    expect(second).not.toBe(first);
    second.succeed();
    await expect(requested).resolves.toMatchObject({ ok: true, status: { state: 'idle' } });
    await scheduler.close();
  });

  it('resolves syncNow with ok false at once while offline', async () => {
    const { scheduler, calls } = harness({ online: false });
    scheduler.start();
    await expect(scheduler.syncNow()).resolves.toMatchObject({
      ok: false,
      status: { state: 'offline' },
    });
    expect(calls).toHaveLength(0);
    await scheduler.close();
  });

  it('answers syncNow after an immediate conflict retry, not at the conflict', async () => {
    const { clock, scheduler, last } = harness();
    scheduler.start();
    const requested = scheduler.syncNow();
    last().fail(new FerryError('conflict', '1 change conflicts'));
    await clock.advanceAsync(0);
    expect(scheduler.status.state).toBe('pushing');
    last().succeed();
    await expect(requested).resolves.toMatchObject({ ok: true });
    await scheduler.close();
  });

  it('refreshes the token once on a 401 and resumes with the new one', async () => {
    let refreshes = 0;
    const { clock, calls, scheduler, events, last } = harness({
      syncOnStart: true,
      refreshAuth: async () => {
        refreshes++;
        return true;
      },
    });
    scheduler.start();
    last().fail(new FerryError('unauthorized', 'jwt expired'));
    await clock.advanceAsync(0);
    expect(refreshes).toBe(1);
    expect(calls).toHaveLength(2);
    expect(events.reconnects).toBe(1); // the events subscription gets the new token too
    last().succeed();
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({ state: 'idle', auth: 'ok' });
    expect(scheduler.metrics().authRefreshes).toBe(1);
    await scheduler.close();
  });

  it('stays blocked and says so when the refresh yields no token, or throws', async () => {
    const { clock, calls, scheduler, errors, last } = harness({
      syncOnStart: true,
      refreshAuth: () => Promise.reject(new Error('identity provider down')),
    });
    scheduler.start();
    last().fail(new FerryError('unauthorized', 'jwt expired'));
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({
      state: 'blocked-auth',
      auth: 'failed',
      lastError: { class: 'auth' },
    });
    expect(errors.map((e) => (e.error as Error).message)).toContain('identity provider down');
    await clock.advanceAsync(60 * 60_000);
    expect(calls).toHaveLength(1);
    // The app signs the user in again.
    scheduler.authRefreshed(true);
    expect(calls).toHaveLength(2);
    await scheduler.close();
  });

  it('pauses while offline, keeps the events closed, and syncs at once when online again', async () => {
    const { clock, calls, scheduler, events, last } = harness();
    scheduler.start();
    expect(events.starts).toBe(1);
    scheduler.setOnline(false);
    expect(events.stops).toBe(1);
    scheduler.notifyWrite();
    await clock.advanceAsync(10 * 60_000);
    expect(calls).toHaveLength(0);
    expect(scheduler.status.state).toBe('offline');
    scheduler.setOnline(true);
    expect(events.starts).toBe(2);
    expect(calls.map((c) => c.kind)).toEqual(['full']);
    last().succeed();
    await clock.advanceAsync(0);
    expect(scheduler.status.state).toBe('idle');
    await scheduler.close();
  });

  it('aborts a cycle when the connection drops, without counting a failure', async () => {
    const { clock, scheduler, errors, last } = harness({ syncOnStart: true });
    scheduler.start();
    const cycle = last();
    scheduler.setOnline(false);
    expect(cycle.signal.aborted).toBe(true);
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({ state: 'offline', consecutiveFailures: 0 });
    expect(errors).toHaveLength(0);
    await scheduler.close();
  });

  it('pulls on a poke and skips pokes for bundles it already applied', async () => {
    const { clock, calls, scheduler, last } = harness();
    scheduler.start();
    scheduler.poke(5);
    expect(calls.map((c) => c.kind)).toEqual(['pull']);
    last().succeed({ bundleSeq: 6 });
    await clock.advanceAsync(5_000);
    scheduler.poke(6);
    await clock.advanceAsync(5_000);
    expect(calls).toHaveLength(1);
    expect(scheduler.metrics().pokes).toBe(2);
    await scheduler.close();
  });

  it('reports the pull phase of a full cycle', async () => {
    const { clock, scheduler, last } = harness({ syncOnStart: true });
    scheduler.start();
    expect(scheduler.status.state).toBe('pushing');
    last().cycle.reportPhase('pull');
    expect(scheduler.status).toMatchObject({ state: 'pulling', lastSuccessfulPushAt: T0 });
    await clock.advanceAsync(100);
    last().succeed();
    await clock.advanceAsync(0);
    expect(scheduler.status.lastSuccessfulPullAt).toBe(T0 + 100);
    await scheduler.close();
  });

  it('classifies a synchronous throw of runCycle like a rejection', async () => {
    const { clock, scheduler, errors } = harness({
      syncOnStart: true,
      runCycle: () => {
        throw new TypeError('engine bug');
      },
    });
    scheduler.start();
    await clock.advanceAsync(0);
    expect(scheduler.status).toMatchObject({ state: 'backoff', lastError: { class: 'fatal' } });
    expect(errors[0]!.failure?.class).toBe('fatal');
    await scheduler.close();
  });

  it('survives throwing status listeners and log hooks, reporting them to onError', async () => {
    const { clock, calls, scheduler, errors } = harness({
      onStatus: () => {
        throw new Error('listener bug');
      },
      onLog: () => {
        throw new Error('logger bug');
      },
    });
    const seen: string[] = [];
    const unsubscribe = scheduler.subscribe((s) => seen.push(s.state));
    scheduler.start();
    scheduler.poke(1);
    expect(calls).toHaveLength(1);
    expect(seen).toEqual(['idle', 'pulling']);
    unsubscribe();
    calls[0]!.succeed();
    await clock.advanceAsync(0);
    expect(seen).toEqual(['idle', 'pulling']);
    const messages = errors.map((e) => (e.error as Error).message);
    expect(messages).toContain('listener bug');
    expect(messages).toContain('logger bug');
    await scheduler.close();
  });

  it('queues events that arrive before start, and closes cleanly without starting', async () => {
    const queued = harness();
    queued.scheduler.notifyWrite();
    expect(queued.scheduler.status.state).toBe('idle');
    queued.scheduler.start();
    await queued.clock.advanceAsync(2_000);
    expect(queued.calls.map((c) => c.kind)).toEqual(['push']);
    await queued.scheduler.close();

    const never = harness();
    await never.scheduler[Symbol.asyncDispose]();
    expect(never.scheduler.status.state).toBe('closed');
    never.scheduler.start();
    expect(never.calls).toHaveLength(0);
    expect(never.events.starts).toBe(0);
  });

  it('keeps metrics as a plain object the engine can add to', async () => {
    const { scheduler } = harness();
    scheduler.addMetric('rowsPushed', 120);
    scheduler.addMetric('deadLetters');
    const metrics = scheduler.metrics();
    expect(metrics).toMatchObject({ rowsPushed: 120, deadLetters: 1, cycles: 0 });
    metrics.rowsPushed = 0;
    expect(scheduler.metrics().rowsPushed).toBe(120);
    expect(() => scheduler.addMetric('bytesSent', Number.NaN)).toThrow(/finite/);
    expect(JSON.parse(JSON.stringify(scheduler.metrics()))).toEqual(scheduler.metrics());
    await scheduler.close();
  });

  it('logs structured events with the correlation id of a failed request', async () => {
    const { clock, scheduler, logs, last } = harness({ syncOnStart: true });
    scheduler.start();
    last().fail(
      new FerryError('internal', 'boom', { details: { correlationId: 'src-1/bundle-9' } }),
    );
    await clock.advanceAsync(0);
    const failed = logs.find((l) => l.event === 'cycle-failed');
    expect(failed).toMatchObject({
      level: 'warn',
      fields: { failureClass: 'server-error', correlationId: 'src-1/bundle-9', status: 500 },
    });
    await scheduler.close();
  });

  it('rejects bad schedule options at creation', () => {
    expect(() =>
      createSyncScheduler({ runCycle: async () => undefined, schedule: { debounceMs: -1 } }),
    ).toThrow(/debounceMs/);
  });
});

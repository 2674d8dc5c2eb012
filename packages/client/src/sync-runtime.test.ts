import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import { createManualClock } from './scheduler/clock.js';
import { createSeededRandom } from './scheduler/seeded-random.js';
import { SyncRuntime } from './sync-runtime.js';

const T0 = 1_700_000_000_000;

describe('the sync runtime', () => {
  it('does not take a probe that keeps saying online for evidence that the server is back', async () => {
    const clock = createManualClock(T0);
    let cycles = 0;
    let probes = 0;
    const runtime = new SyncRuntime({
      // The server is down: every cycle fails as a refused connection does.
      runCycle: () => {
        cycles++;
        return Promise.reject(new FerryError('network', 'connect ECONNREFUSED 127.0.0.1:8787'));
      },
      refreshAuth: () => Promise.resolve(false),
      schedule: {},
      clock,
      random: createSeededRandom(3),
      events: null,
      // The device is online all along (a probe runs after every network failure).
      online: () => {
        probes++;
        return Promise.resolve(true); // as a real probe answers: later
      },
      onlineProbeIntervalMs: 5_000,
      foreground: true,
      onStatus: () => undefined,
      onError: () => undefined,
      onLog: undefined,
    });
    runtime.start();
    for (let i = 0; i < 100 && runtime.scheduler.status.state !== 'paused'; i++) {
      await clock.advanceAsync(1_000);
    }
    expect(runtime.scheduler.status).toMatchObject({ state: 'paused', consecutiveFailures: 5 });
    expect(cycles).toBe(5);
    expect(probes).toBeGreaterThanOrEqual(5);
    // Within the cool-down, nothing runs: the probe's unchanged answer is no news.
    await clock.advanceAsync(29 * 60_000);
    expect(cycles).toBe(5);
    await runtime.close();
  });
});

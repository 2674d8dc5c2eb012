import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import type { LogEntry } from '../scheduler/log-entry.js';
import { emptySyncMetrics } from '../scheduler/sync-status.js';
import { ClientObserver, type ClientEvent } from './client-observer.js';
import { initialEngineStatus } from './client-status.js';
import { EngineRecorder } from './engine-recorder.js';

function setUp() {
  const logs: LogEntry[] = [];
  const events: ClientEvent[] = [];
  const observer = new ClientObserver(
    initialEngineStatus({
      sourceId: '00000000-0000-4000-8000-000000000001',
      userId: null,
      online: true,
      foreground: true,
      storage: 'memory',
    }),
    { realtime: false, onLog: (entry) => logs.push(entry) },
  );
  observer.subscribe((event) => events.push(event));
  const metrics = emptySyncMetrics();
  return { recorder: new EngineRecorder(observer, metrics), observer, metrics, logs, events };
}

const ref = { sourceBundleId: 4, correlationId: 'src:4' };

describe('EngineRecorder', () => {
  it('turns a cycle’s events into its report, the counters, the log, the status and the app’s events', () => {
    const { recorder, observer, metrics, logs, events } = setUp();
    const cycle = recorder.forCycle();
    cycle.record({ type: 'cycle-started', kind: 'full', scheduled: false });
    expect(observer.status.state).toBe('syncing');
    cycle.record(
      {
        type: 'pulled',
        bundles: 2,
        rows: 5,
        checkpoint: 9,
        firstBundleSeq: 8,
        tables: ['todos'],
        acked: false,
        warnings: [],
        at: 1_000,
      },
      {
        type: 'conflicts-settled',
        ref,
        reports: [{ table: 'todos', pk: 'a', outcome: 'adopt-server' }],
        journaled: [],
      },
    );
    expect(cycle.report).toMatchObject({ pulled: 5, bundlesPulled: 2, conflicts: [{ pk: 'a' }] });
    expect(metrics).toMatchObject({ cycles: 1, pushes: 1, pulls: 1, rowsPulled: 5, conflicts: 1 });
    expect(observer.status).toMatchObject({ checkpoint: 9, lastPullAt: 1_000 });
    expect(logs.map((entry) => entry.event)).toEqual(['pulled', 'conflict']);
    expect(logs[1]!.fields).toMatchObject({ correlationId: 'src:4', outcome: 'adopt-server' });
    expect(events.filter((event) => event.type === 'remote-change')).toEqual([
      { type: 'remote-change', tables: ['todos'], rows: 5, checkpoint: 9 },
      { type: 'remote-change', tables: ['todos'], rows: 1, checkpoint: 9 },
    ]);
  });

  it('counts only the app’s own cycles (the scheduler counts its own) and shows a failure', () => {
    const { recorder, observer, metrics } = setUp();
    const cycle = recorder.forCycle();
    cycle.record({ type: 'cycle-started', kind: 'push', scheduled: true });
    const error = new FerryError('unauthorized', 'no');
    cycle.record({ type: 'cycle-failed', scheduled: true, error, at: 5 });
    expect(metrics.cycles).toBe(0);
    expect(metrics.cyclesFailed).toBe(0);
    expect(observer.status).toMatchObject({
      lastError: error,
      consecutiveFailures: 1,
    });
    expect(observer.engine.state).toBe('blocked-auth');
  });

  it('returns to the state a hydration interrupted once it is done', () => {
    const { recorder, observer } = setUp();
    const cycle = recorder.forCycle();
    cycle.record({ type: 'cycle-started', kind: 'pull', scheduled: false });
    cycle.record({ type: 'hydration-started' });
    expect(observer.engine.state).toBe('hydrating');
    cycle.record({
      type: 'hydrated',
      rows: 3,
      checkpoint: 2,
      tables: ['todos'],
      warnings: [],
      at: 7,
    });
    expect(observer.engine.state).toBe('syncing');
    expect(cycle.report.hydrated).toBe(true);
  });

  it('records events outside a cycle into the status and counters but no report', () => {
    const { recorder, observer, metrics } = setUp();
    recorder.record({
      type: 'source-rotated',
      previous: 'a',
      next: 'b',
      reason: 'bundle_mismatch',
      frozen: null,
    });
    expect(observer.status.sourceId).toBe('b');
    expect(metrics.sourceRotations).toBe(1);
  });
});

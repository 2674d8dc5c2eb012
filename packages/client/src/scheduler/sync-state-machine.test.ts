import { describe, expect, it } from 'vitest';
import type { Failure, FailureClass } from './classify-failure.js';
import { createSeededRandom } from './seeded-random.js';
import { DEFAULT_SYNC_SCHEDULE, resolveSyncSchedule } from './sync-schedule.js';
import {
  SYNC_EVENT_TYPES,
  SYNC_STATE_NAMES,
  isSubscribed,
  startSyncMachine,
  syncStateInvariantViolations,
  timersOf,
  transition,
  type SyncEffect,
  type SyncEvent,
  type SyncEventType,
  type SyncMachineInit,
  type SyncMachineState,
  type SyncStateName,
  type TimerEventName,
  type TimerName,
  type TransitionContext,
} from './sync-state-machine.js';

const T0 = 1_000_000;
const OPTIONS = DEFAULT_SYNC_SCHEDULE;

function ctx(now: number, random: () => number = () => 0.5): TransitionContext {
  return { now, options: OPTIONS, random };
}

function failure(cls: FailureClass, extra: Partial<Failure> = {}): Failure {
  return {
    class: cls,
    code: null,
    status: null,
    message: `a ${cls} failure`,
    retryAfterMs: null,
    correlationId: null,
    ...extra,
  };
}

/** Drives the machine from its start through `steps` ([time, event]), checking invariants. */
class Run {
  state: SyncMachineState;
  effects: readonly SyncEffect[];
  now: number;

  constructor(init: SyncMachineInit = {}, now = T0) {
    const start = startSyncMachine(init, ctx(now));
    this.state = start.state;
    this.effects = start.effects;
    this.now = now;
    expect(syncStateInvariantViolations(this.state, OPTIONS)).toEqual([]);
  }

  at(now: number, event: SyncEvent): this {
    this.now = now;
    const next = transition(this.state, event, ctx(now));
    this.state = next.state;
    this.effects = next.effects;
    expect(syncStateInvariantViolations(this.state, OPTIONS)).toEqual([]);
    return this;
  }

  get cycleId(): number {
    return this.state.cycle?.id ?? 1;
  }
}

/** A fixture: a state reached by real events, and the time at which events are applied. */
interface Fixture {
  readonly state: SyncMachineState;
  readonly now: number;
}

function idleFixture(): Run {
  const run = new Run();
  return run.at(T0 + 100, { type: 'cycle-succeeded', cycleId: 1, outcome: {} });
}

function failTimes(run: Run, cls: FailureClass, times: number): Run {
  for (let i = 0; i < times; i++) {
    if (run.state.name === 'backoff' && run.state.nextRetryAt !== null) {
      run.at(run.state.nextRetryAt, { type: 'timer', name: 'retry' });
    }
    expect(run.state.cycle).not.toBeNull();
    run.at(run.now + 100, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure(cls) });
  }
  return run;
}

const FIXTURES: Record<SyncStateName, () => Fixture> = {
  idle: () => ({ state: idleFixture().state, now: T0 + 5_000 }),
  pushing: () => ({ state: new Run().state, now: T0 + 100 }),
  pulling: () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'poke', bundleSeq: 7 });
    return { state: run.state, now: T0 + 5_100 };
  },
  backoff: () => ({ state: failTimes(new Run(), 'transient', 1).state, now: T0 + 150 }),
  'blocked-auth': () => {
    const run = failTimes(new Run(), 'auth', 1).at(T0 + 200, {
      type: 'auth-refreshed',
      newToken: false,
    });
    return { state: run.state, now: T0 + 250 };
  },
  'blocked-conflict': () => ({ state: failTimes(new Run(), 'conflict', 4).state, now: T0 + 500 }),
  paused: () => {
    const run = failTimes(new Run(), 'transient', 5);
    return { state: run.state, now: run.now + 100 };
  },
  offline: () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'offline' });
    return { state: run.state, now: T0 + 5_100 };
  },
  closed: () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'close' });
    return { state: run.state, now: T0 + 5_100 };
  },
};

/** Each event type with its variants; a timer fires at its own due time. */
const EVENT_CASES = {
  'local-write': () => ({ type: 'local-write' }),
  'timer:debounce': () => ({ type: 'timer', name: 'debounce' }),
  'timer:throttle': () => ({ type: 'timer', name: 'throttle' }),
  'timer:retry': () => ({ type: 'timer', name: 'retry' }),
  'timer:periodic': () => ({ type: 'timer', name: 'periodic' }),
  'poke:new': () => ({ type: 'poke', bundleSeq: 1_000 }),
  'poke:null': () => ({ type: 'poke', bundleSeq: null }),
  online: () => ({ type: 'online' }),
  offline: () => ({ type: 'offline' }),
  foreground: () => ({ type: 'foreground' }),
  background: () => ({ type: 'background' }),
  'sync-now': () => ({ type: 'sync-now' }),
  'realtime:connected': () => ({ type: 'realtime', connected: true }),
  'realtime:disconnected': () => ({ type: 'realtime', connected: false }),
  'cycle-progress': (s) => ({ type: 'cycle-progress', cycleId: s.cycle?.id ?? 1, phase: 'pull' }),
  'cycle-succeeded': (s) => ({ type: 'cycle-succeeded', cycleId: s.cycle?.id ?? 1, outcome: {} }),
  'cycle-failed': (s) => ({
    type: 'cycle-failed',
    cycleId: s.cycle?.id ?? 1,
    failure: failure('transient'),
  }),
  'auth-refreshed:new': () => ({ type: 'auth-refreshed', newToken: true }),
  'auth-refreshed:none': () => ({ type: 'auth-refreshed', newToken: false }),
  'cool-down-over': () => ({ type: 'cool-down-over' }),
  close: () => ({ type: 'close' }),
} satisfies Record<string, (s: SyncMachineState) => SyncEvent>;
type EventCase = keyof typeof EVENT_CASES;

/** When a case happens in a state: a timer at its due time, otherwise at the fixture's time. */
function timeOf(fixture: Fixture, eventCase: EventCase): number {
  const timers = timersOf(fixture.state, OPTIONS);
  const timer: TimerName | null = eventCase.startsWith('timer:')
    ? (eventCase.slice('timer:'.length) as TimerName)
    : eventCase === 'cool-down-over'
      ? 'cool-down'
      : null;
  const due = timer === null ? undefined : timers.get(timer);
  return due === undefined ? fixture.now : Math.max(fixture.now, due);
}

function summarize(effects: readonly SyncEffect[]): string[] {
  return effects.map((effect) => {
    switch (effect.type) {
      case 'set-timer':
      case 'cancel-timer':
        return `${effect.type}:${effect.name}`;
      case 'start-cycle':
        return `start-cycle:${effect.kind}`;
      default:
        return effect.type;
    }
  });
}

type Row = readonly [SyncStateName, ...string[]];
const S = 'emit-status';

/**
 * The whole product: every state × every event case → [next state, ...effects]. The type makes
 * a missing state or case a compile error; the first test makes it a test failure too.
 */
const TABLE: Record<SyncStateName, Record<EventCase, Row>> = {
  idle: {
    'local-write': ['idle', 'set-timer:debounce', S],
    'timer:debounce': ['idle'],
    'timer:throttle': ['idle'],
    'timer:retry': ['idle'],
    'timer:periodic': ['pushing', 'start-cycle:full', S],
    'poke:new': ['pulling', 'cancel-timer:periodic', 'start-cycle:pull', S],
    'poke:null': ['pulling', 'cancel-timer:periodic', 'start-cycle:pull', S],
    online: ['idle'],
    offline: ['offline', 'cancel-timer:periodic', 'unsubscribe-events', S],
    foreground: ['idle'],
    background: ['idle', 'set-timer:periodic', 'unsubscribe-events', S],
    'sync-now': ['pushing', 'cancel-timer:periodic', 'start-cycle:full', S],
    'realtime:connected': ['pulling', 'cancel-timer:periodic', 'start-cycle:pull', S],
    'realtime:disconnected': ['idle'],
    'cycle-progress': ['idle'],
    'cycle-succeeded': ['idle'],
    'cycle-failed': ['idle'],
    'auth-refreshed:new': ['idle', 'resubscribe-events'],
    'auth-refreshed:none': ['idle'],
    'cool-down-over': ['idle'],
    close: ['closed', 'cancel-timer:periodic', 'unsubscribe-events', S],
  },
  pushing: {
    'local-write': ['pushing', S],
    'timer:debounce': ['pushing'],
    'timer:throttle': ['pushing'],
    'timer:retry': ['pushing'],
    'timer:periodic': ['pushing'],
    'poke:new': ['pushing', S],
    'poke:null': ['pushing', S],
    online: ['pushing'],
    offline: ['offline', 'abort-cycle', 'unsubscribe-events', S],
    foreground: ['pushing'],
    background: ['pushing', 'unsubscribe-events', S],
    'sync-now': ['pushing', S],
    'realtime:connected': ['pushing', S],
    'realtime:disconnected': ['pushing'],
    'cycle-progress': ['pulling', S],
    'cycle-succeeded': ['idle', 'set-timer:periodic', S],
    'cycle-failed': ['backoff', 'set-timer:retry', S],
    'auth-refreshed:new': ['pushing', 'resubscribe-events'],
    'auth-refreshed:none': ['pushing'],
    'cool-down-over': ['pushing'],
    close: ['closed', 'abort-cycle', 'unsubscribe-events', S],
  },
  pulling: {
    'local-write': ['pulling', S],
    'timer:debounce': ['pulling'],
    'timer:throttle': ['pulling'],
    'timer:retry': ['pulling'],
    'timer:periodic': ['pulling'],
    'poke:new': ['pulling', S],
    'poke:null': ['pulling', S],
    online: ['pulling'],
    offline: ['offline', 'abort-cycle', 'unsubscribe-events', S],
    foreground: ['pulling'],
    background: ['pulling', 'unsubscribe-events', S],
    'sync-now': ['pulling', S],
    'realtime:connected': ['pulling', S],
    'realtime:disconnected': ['pulling'],
    'cycle-progress': ['pulling'],
    'cycle-succeeded': ['idle', 'set-timer:periodic', S],
    'cycle-failed': ['backoff', 'set-timer:retry', S],
    'auth-refreshed:new': ['pulling', 'resubscribe-events'],
    'auth-refreshed:none': ['pulling'],
    'cool-down-over': ['pulling'],
    close: ['closed', 'abort-cycle', 'unsubscribe-events', S],
  },
  backoff: {
    'local-write': ['backoff', S],
    'timer:debounce': ['backoff'],
    'timer:throttle': ['backoff'],
    'timer:retry': ['pushing', 'start-cycle:full', S],
    'timer:periodic': ['backoff'],
    'poke:new': ['backoff', S],
    'poke:null': ['backoff'],
    online: ['backoff'],
    offline: ['offline', 'cancel-timer:retry', 'unsubscribe-events', S],
    foreground: ['backoff'],
    background: ['backoff', 'unsubscribe-events', S],
    'sync-now': ['pushing', 'cancel-timer:retry', 'start-cycle:full', S],
    'realtime:connected': ['backoff', S],
    'realtime:disconnected': ['backoff'],
    'cycle-progress': ['backoff'],
    'cycle-succeeded': ['backoff'],
    'cycle-failed': ['backoff'],
    'auth-refreshed:new': ['backoff', 'resubscribe-events'],
    'auth-refreshed:none': ['backoff'],
    'cool-down-over': ['backoff'],
    close: ['closed', 'cancel-timer:retry', 'unsubscribe-events', S],
  },
  'blocked-auth': {
    'local-write': ['blocked-auth', S],
    'timer:debounce': ['blocked-auth'],
    'timer:throttle': ['blocked-auth'],
    'timer:retry': ['blocked-auth'],
    'timer:periodic': ['blocked-auth'],
    'poke:new': ['blocked-auth', S],
    'poke:null': ['blocked-auth'],
    online: ['blocked-auth'],
    offline: ['offline', 'unsubscribe-events', S],
    foreground: ['blocked-auth'],
    background: ['blocked-auth', 'unsubscribe-events', S],
    'sync-now': ['pushing', 'start-cycle:full', S],
    'realtime:connected': ['blocked-auth', S],
    'realtime:disconnected': ['blocked-auth'],
    'cycle-progress': ['blocked-auth'],
    'cycle-succeeded': ['blocked-auth'],
    'cycle-failed': ['blocked-auth'],
    'auth-refreshed:new': ['pushing', 'start-cycle:full', 'resubscribe-events', S],
    'auth-refreshed:none': ['blocked-auth'],
    'cool-down-over': ['blocked-auth'],
    close: ['closed', 'unsubscribe-events', S],
  },
  'blocked-conflict': {
    'local-write': ['idle', 'set-timer:throttle', S],
    'timer:debounce': ['blocked-conflict'],
    'timer:throttle': ['blocked-conflict'],
    'timer:retry': ['blocked-conflict'],
    'timer:periodic': ['pushing', 'start-cycle:full', S],
    'poke:new': ['idle', 'set-timer:throttle', S],
    'poke:null': ['idle', 'set-timer:throttle', S],
    online: ['blocked-conflict'],
    offline: ['offline', 'cancel-timer:periodic', 'unsubscribe-events', S],
    foreground: ['blocked-conflict'],
    background: ['blocked-conflict', 'set-timer:periodic', 'unsubscribe-events', S],
    'sync-now': ['pushing', 'cancel-timer:periodic', 'start-cycle:full', S],
    'realtime:connected': ['idle', 'set-timer:throttle', S],
    'realtime:disconnected': ['blocked-conflict'],
    'cycle-progress': ['blocked-conflict'],
    'cycle-succeeded': ['blocked-conflict'],
    'cycle-failed': ['blocked-conflict'],
    'auth-refreshed:new': ['blocked-conflict', 'resubscribe-events'],
    'auth-refreshed:none': ['blocked-conflict'],
    'cool-down-over': ['blocked-conflict'],
    close: ['closed', 'cancel-timer:periodic', 'unsubscribe-events', S],
  },
  paused: {
    'local-write': ['paused', S],
    'timer:debounce': ['paused'],
    'timer:throttle': ['paused'],
    'timer:retry': ['paused'],
    'timer:periodic': ['paused'],
    // Evidence before the gate (16 s after the last failure) brings the trial forward to it.
    'poke:new': ['paused', 'set-timer:cool-down', S],
    'poke:null': ['paused', 'set-timer:cool-down', S],
    online: ['paused', 'set-timer:cool-down', S],
    offline: ['offline', 'cancel-timer:cool-down', 'unsubscribe-events', S],
    foreground: ['paused'],
    background: ['paused', 'unsubscribe-events', S],
    'sync-now': ['pushing', 'cancel-timer:cool-down', 'start-cycle:full', S],
    'realtime:connected': ['paused', 'set-timer:cool-down', S],
    'realtime:disconnected': ['paused'],
    'cycle-progress': ['paused'],
    'cycle-succeeded': ['paused'],
    'cycle-failed': ['paused'],
    'auth-refreshed:new': ['paused', 'resubscribe-events'],
    'auth-refreshed:none': ['paused'],
    'cool-down-over': ['pushing', 'start-cycle:full', S],
    close: ['closed', 'cancel-timer:cool-down', 'unsubscribe-events', S],
  },
  offline: {
    'local-write': ['offline', S],
    'timer:debounce': ['offline'],
    'timer:throttle': ['offline'],
    'timer:retry': ['offline'],
    'timer:periodic': ['offline'],
    'poke:new': ['offline', S],
    'poke:null': ['offline', S],
    online: ['pushing', 'start-cycle:full', 'subscribe-events', S],
    offline: ['offline'],
    foreground: ['offline'],
    background: ['offline', S],
    'sync-now': ['offline'],
    'realtime:connected': ['offline', S],
    'realtime:disconnected': ['offline'],
    'cycle-progress': ['offline'],
    'cycle-succeeded': ['offline'],
    'cycle-failed': ['offline'],
    'auth-refreshed:new': ['offline'],
    'auth-refreshed:none': ['offline'],
    'cool-down-over': ['offline'],
    close: ['closed', S],
  },
  closed: {
    'local-write': ['closed'],
    'timer:debounce': ['closed'],
    'timer:throttle': ['closed'],
    'timer:retry': ['closed'],
    'timer:periodic': ['closed'],
    'poke:new': ['closed'],
    'poke:null': ['closed'],
    online: ['closed'],
    offline: ['closed'],
    foreground: ['closed'],
    background: ['closed'],
    'sync-now': ['closed'],
    'realtime:connected': ['closed'],
    'realtime:disconnected': ['closed'],
    'cycle-progress': ['closed'],
    'cycle-succeeded': ['closed'],
    'cycle-failed': ['closed'],
    'auth-refreshed:new': ['closed'],
    'auth-refreshed:none': ['closed'],
    'cool-down-over': ['closed'],
    close: ['closed'],
  },
};

describe('the transition table', () => {
  const caseNames = Object.keys(EVENT_CASES) as EventCase[];

  it('has a row for every state × event case, and a case for every event type', () => {
    for (const name of SYNC_STATE_NAMES) {
      expect(Object.keys(FIXTURES)).toContain(name);
      expect(Object.keys(TABLE[name]).sort()).toEqual([...caseNames].sort());
    }
    expect(Object.keys(TABLE).sort()).toEqual([...SYNC_STATE_NAMES].sort());
    const covered = new Set(
      caseNames.map((c): SyncEventType => EVENT_CASES[c](FIXTURES.idle().state).type),
    );
    expect([...covered].sort()).toEqual([...SYNC_EVENT_TYPES].sort());
  });

  it('builds every fixture in the state it is named for', () => {
    for (const name of SYNC_STATE_NAMES) expect(FIXTURES[name]().state.name).toBe(name);
  });

  describe.each(SYNC_STATE_NAMES)('in %s', (stateName) => {
    it.each(caseNames)('on %s goes where the table says, with its effects', (eventCase) => {
      const fixture = FIXTURES[stateName]();
      const event = EVENT_CASES[eventCase](fixture.state);
      const result = transition(fixture.state, event, ctx(timeOf(fixture, eventCase)));
      const [expectedName, ...expectedEffects] = TABLE[stateName][eventCase];
      expect([result.state.name, ...summarize(result.effects)]).toEqual([
        expectedName,
        ...expectedEffects,
      ]);
      expect(syncStateInvariantViolations(result.state, OPTIONS)).toEqual([]);
    });
  });
});

describe('triggers', () => {
  it('debounces a burst of writes to 2 s after the last write', () => {
    const run = idleFixture();
    run.at(T0 + 10_000, { type: 'local-write' });
    expect(run.effects).toContainEqual({ type: 'set-timer', name: 'debounce', at: T0 + 12_000 });
    run.at(T0 + 11_500, { type: 'local-write' });
    expect(run.effects).toContainEqual({ type: 'set-timer', name: 'debounce', at: T0 + 13_500 });
    run.at(T0 + 13_500, { type: 'timer', name: 'debounce' });
    expect(run.state.name).toBe('pushing');
    expect(run.state.cycle?.kind).toBe('push');
  });

  it('pushes at most 10 s after the first write of a steady stream of writes', () => {
    const run = idleFixture();
    for (let t = T0 + 10_000; t <= T0 + 19_500; t += 500) {
      run.at(t, { type: 'local-write' });
      expect(run.state.name).toBe('idle');
    }
    expect(run.state.wake).toEqual({ timer: 'debounce', at: T0 + 20_000 });
    run.at(T0 + 20_000, { type: 'timer', name: 'debounce' });
    expect(run.state.name).toBe('pushing');
  });

  it('throttles automatic cycles to one per minimum interval', () => {
    const run = idleFixture(); // the first cycle started at T0
    run.at(T0 + 500, { type: 'poke', bundleSeq: 3 });
    expect(run.state.name).toBe('idle');
    expect(run.effects).toContainEqual({ type: 'set-timer', name: 'throttle', at: T0 + 2_000 });
    run.at(T0 + 2_000, { type: 'timer', name: 'throttle' });
    expect(run.state.cycle?.kind).toBe('pull');
  });

  it('lets sync-now bypass debounce and throttle', () => {
    const run = idleFixture();
    run.at(T0 + 500, { type: 'local-write' });
    run.at(T0 + 600, { type: 'sync-now' });
    expect(run.state.name).toBe('pushing');
    expect(run.state.cycle?.kind).toBe('full');
    expect(run.state.firstWriteAt).toBeNull();
  });

  it('runs the periodic safety net 30 s after the last cycle in the foreground, 5 min in the background', () => {
    const run = idleFixture(); // the last cycle ended at T0 + 100
    expect(timersOf(run.state, OPTIONS).get('periodic')).toBe(T0 + 30_100);
    run.at(T0 + 1_000, { type: 'background' });
    expect(timersOf(run.state, OPTIONS).get('periodic')).toBe(T0 + 300_100);
    run.at(T0 + 300_100, { type: 'timer', name: 'periodic' });
    expect(run.state.cycle?.kind).toBe('full');
  });

  it('syncs on returning to the foreground when the foreground interval has passed', () => {
    const run = idleFixture().at(T0 + 1_000, { type: 'background' });
    run.at(T0 + 60_000, { type: 'foreground' });
    expect(run.state.name).toBe('pushing');
  });

  it('ignores a poke for a bundle it already has, and pulls for a newer one', () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'poke', bundleSeq: 4 });
    run.at(T0 + 5_100, {
      type: 'cycle-succeeded',
      cycleId: run.cycleId,
      outcome: { bundleSeq: 9 },
    });
    run.at(T0 + 8_000, { type: 'poke', bundleSeq: 9 });
    expect(run.state.name).toBe('idle');
    expect(run.effects).toEqual([]);
    run.at(T0 + 8_000, { type: 'poke', bundleSeq: 10 });
    expect(run.state.cycle?.kind).toBe('pull');
  });

  it('drops a poke that arrived mid-pull when the pull reports that bundle applied', () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'poke', bundleSeq: 4 });
    run.at(T0 + 5_050, { type: 'poke', bundleSeq: 5 }); // our own push, say
    run.at(T0 + 5_100, {
      type: 'cycle-succeeded',
      cycleId: run.cycleId,
      outcome: { bundleSeq: 5 },
    });
    expect(run.state.name).toBe('idle');
    expect(run.state.wake).toBeNull();
  });

  it('pulls again after a pull when a poke arrived mid-pull and the engine reports nothing', () => {
    const run = idleFixture().at(T0 + 5_000, { type: 'poke', bundleSeq: 4 });
    run.at(T0 + 5_050, { type: 'poke', bundleSeq: 5 });
    run.at(T0 + 5_100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    expect(run.state.wake).toEqual({ timer: 'throttle', at: T0 + 7_000 });
  });

  it('starts the next cycle at once (throttled) when the engine reports more to push', () => {
    const run = new Run().at(T0 + 100, {
      type: 'cycle-succeeded',
      cycleId: 1,
      outcome: { morePush: true },
    });
    expect(run.state.wake).toEqual({ timer: 'throttle', at: T0 + 2_000 });
    run.at(T0 + 2_000, { type: 'timer', name: 'throttle' });
    expect(run.state.cycle?.kind).toBe('push');
  });

  it('records a successful push at cycle-progress, then the pull at success', () => {
    const run = new Run().at(T0 + 50, { type: 'cycle-progress', cycleId: 1, phase: 'pull' });
    expect(run.state.name).toBe('pulling');
    expect(run.state.lastPushAt).toBe(T0 + 50);
    expect(run.state.lastPullAt).toBeNull();
    run.at(T0 + 90, { type: 'cycle-succeeded', cycleId: 1, outcome: {} });
    expect(run.state.lastPullAt).toBe(T0 + 90);
  });

  it('ignores events of a cycle that is not the one running', () => {
    const run = new Run();
    const before = run.state;
    run.at(T0 + 10, { type: 'cycle-failed', cycleId: 99, failure: failure('transient') });
    expect(run.state).toBe(before);
    expect(run.effects).toEqual([]);
  });
});

describe('failure classes', () => {
  const cases: ReadonlyArray<
    readonly [FailureClass, Partial<Failure>, SyncStateName, (s: SyncMachineState) => void]
  > = [
    ['transient', {}, 'backoff', (s) => expect(s.consecutiveFailures).toBe(1)],
    // server-error: attempt 0 with the 10 s base and random 0.5: 5 s after the failure.
    ['server-error', {}, 'backoff', (s) => expect(s.nextRetryAt).toBe(T0 + 100 + 5_000)],
    ['fatal', {}, 'backoff', (s) => expect(s.nextRetryAt).toBe(T0 + 100 + 5_000)],
    [
      'rate-limited',
      { retryAfterMs: 60_000 },
      'backoff',
      (s) => expect(s.nextRetryAt).toBe(T0 + 100 + 60_000),
    ],
    ['auth', {}, 'blocked-auth', (s) => expect(s.auth).toBe('refreshing')],
    ['rejected', {}, 'pushing', (s) => expect(s.cycle?.id).toBe(2)],
    ['conflict', {}, 'pushing', (s) => expect(s.conflictCycles).toBe(1)],
    ['bundle', {}, 'pushing', (s) => expect(s.cycle?.kind).toBe('full')],
    ['history', {}, 'pulling', (s) => expect(s.cycle?.kind).toBe('hydrate')],
  ];

  it.each(cases)('a %s failure of a cycle leads to the right state', (cls, extra, name, check) => {
    const run = new Run().at(T0 + 100, {
      type: 'cycle-failed',
      cycleId: 1,
      failure: failure(cls, extra),
    });
    expect(run.state.name).toBe(name);
    expect(run.state.lastFailure).toMatchObject({ class: cls, at: T0 + 100 });
    check(run.state);
  });

  it('asks for a token refresh once on a 401, and stays blocked on a second 401', () => {
    const run = new Run().at(T0 + 100, {
      type: 'cycle-failed',
      cycleId: 1,
      failure: failure('auth'),
    });
    expect(run.effects.map((e) => e.type)).toContain('refresh-auth');
    run.at(T0 + 200, { type: 'auth-refreshed', newToken: true });
    expect(run.state.name).toBe('pushing');
    run.at(T0 + 300, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('auth') });
    expect(run.state).toMatchObject({ name: 'blocked-auth', auth: 'failed' });
    expect(run.effects.map((e) => e.type)).not.toContain('refresh-auth');
  });

  it('allows a new refresh after a successful cycle', () => {
    const run = new Run()
      .at(T0 + 100, { type: 'cycle-failed', cycleId: 1, failure: failure('auth') })
      .at(T0 + 200, { type: 'auth-refreshed', newToken: true });
    run.at(T0 + 300, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    run.at(T0 + 9_000, { type: 'sync-now' });
    run.at(T0 + 9_100, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('auth') });
    expect(run.effects.map((e) => e.type)).toContain('refresh-auth');
  });

  it('backs off on the second failure in a row of a retry-at-once class', () => {
    const run = failTimes(new Run(), 'bundle', 2);
    expect(run.state.name).toBe('backoff');
    expect(run.state.consecutiveFailures).toBe(2);
  });

  it('keeps the hydration pending through a backoff after a failed hydrate', () => {
    const run = failTimes(new Run(), 'history', 1);
    expect(run.state.cycle?.kind).toBe('hydrate');
    run.at(T0 + 300, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('transient') });
    expect(run.state.name).toBe('backoff');
    run.at(run.state.nextRetryAt!, { type: 'timer', name: 'retry' });
    expect(run.state.cycle?.kind).toBe('hydrate');
    run.at(run.now + 100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    // The push of the original full cycle still waits.
    expect(run.state.pending.push).toBe(true);
  });

  it('gives a sync-now that arrived during a failing cycle its own attempt', () => {
    const run = new Run().at(T0 + 50, { type: 'sync-now' });
    run.at(T0 + 100, { type: 'cycle-failed', cycleId: 1, failure: failure('transient') });
    expect(run.state.name).toBe('pushing');
    expect(run.state.cycle?.id).toBe(2);
    run.at(T0 + 200, { type: 'cycle-failed', cycleId: 2, failure: failure('transient') });
    expect(run.state.name).toBe('backoff');
  });

  it('clears the failure streak on success', () => {
    const run = failTimes(new Run(), 'transient', 3);
    run.at(run.state.nextRetryAt!, { type: 'timer', name: 'retry' });
    run.at(run.now + 10, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    expect(run.state).toMatchObject({
      name: 'idle',
      consecutiveFailures: 0,
      lastFailure: null,
      circuit: 'closed',
    });
  });
});

/** The kinds of evidence that the server is reachable. */
const EVIDENCE: [string, SyncEvent][] = [
  ['the events stream connected', { type: 'realtime', connected: true }],
  ['a poke', { type: 'poke', bundleSeq: 3 }],
  ['a poke for a known bundle', { type: 'poke', bundleSeq: 0 }],
  ['the online signal', { type: 'online' }],
];

/**
 * An outage of `duration` on the fake clock: a write at the start, every cycle fails at once
 * (transient, as a refused connection), timers fire at their time, and at each whole second
 * `evidenceAt(t, trialsSoFar)` says whether evidence arrives (the kind chosen at random; a
 * stream that connects then drops at once). Returns the start times of every cycle.
 */
function simulateOutage(
  duration: number,
  evidenceAt: (t: number, trials: number) => boolean,
  random: () => number,
): number[] {
  const starts: number[] = [];
  let state = startSyncMachine({ syncOnStart: false }, ctx(T0)).state;
  const timers = new Map<TimerName, number>(timersOf(state, OPTIONS));
  let now = T0;
  const step = (event: SyncEvent) => {
    const next = transition(state, event, ctx(now, random));
    state = next.state;
    expect(syncStateInvariantViolations(state, OPTIONS)).toEqual([]);
    for (const effect of next.effects) {
      if (effect.type === 'set-timer') timers.set(effect.name, effect.at);
      if (effect.type === 'cancel-timer') timers.delete(effect.name);
      if (effect.type === 'start-cycle') starts.push(now - T0);
    }
    if (state.cycle !== null) {
      step({ type: 'cycle-failed', cycleId: state.cycle.id, failure: failure('transient') });
    }
  };
  step({ type: 'local-write' });
  while (now < T0 + duration) {
    const second = now + 1_000 - ((now - T0) % 1_000);
    const [name, at] = [...timers].sort((a, b) => a[1] - b[1])[0] ?? ['none', Infinity];
    if (at <= second) {
      now = Math.max(now, at);
      timers.delete(name as TimerName);
      step(
        name === 'cool-down'
          ? { type: 'cool-down-over' }
          : { type: 'timer', name: name as TimerEventName },
      );
      continue;
    }
    now = second;
    if (evidenceAt(now - T0, starts.length)) {
      const [, evidence] = EVIDENCE[Math.floor(random() * EVIDENCE.length)]!;
      if (evidence.type === 'realtime') {
        step(evidence);
        step({ type: 'realtime', connected: false });
      } else {
        step(evidence);
      }
    }
  }
  return starts;
}

describe('the circuit breaker', () => {
  it('opens after N consecutive failed cycles, and says so', () => {
    const run = failTimes(new Run(), 'transient', 4);
    expect(run.state.name).toBe('backoff');
    failTimes(run, 'transient', 1);
    expect(run.state).toMatchObject({
      name: 'paused',
      circuit: 'open',
      consecutiveFailures: 5,
      nextRetryAt: run.now + OPTIONS.circuitCoolDownMs,
    });
    expect(run.state.lastFailure?.class).toBe('transient');
    expect(run.effects).toContainEqual({
      type: 'set-timer',
      name: 'cool-down',
      at: run.now + OPTIONS.circuitCoolDownMs,
    });
  });

  it('runs no automatic sync while open, before the gate', () => {
    const run = failTimes(new Run(), 'transient', 5);
    for (const event of [
      { type: 'local-write' },
      { type: 'poke', bundleSeq: 50 },
      { type: 'timer', name: 'periodic' },
      { type: 'timer', name: 'retry' },
      { type: 'realtime', connected: true },
    ] as const) {
      run.at(run.now + 1_000, event);
      expect(run.state.name).toBe('paused');
      expect(run.effects.map((e) => e.type)).not.toContain('start-cycle');
    }
  });

  it('runs one half-open trial after the cool-down; success closes the circuit', () => {
    const run = failTimes(new Run(), 'transient', 5);
    run.at(run.state.nextRetryAt!, { type: 'cool-down-over' });
    expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open' });
    run.at(run.now + 100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    expect(run.state).toMatchObject({ name: 'idle', circuit: 'closed', consecutiveFailures: 0 });
  });

  it('reopens with a fresh cool-down when the half-open trial fails', () => {
    const run = failTimes(new Run(), 'transient', 5);
    run.at(run.state.nextRetryAt!, { type: 'cool-down-over' });
    run.at(run.now + 100, {
      type: 'cycle-failed',
      cycleId: run.cycleId,
      failure: failure('transient'),
    });
    expect(run.state).toMatchObject({
      name: 'paused',
      circuit: 'open',
      nextRetryAt: run.now + OPTIONS.circuitCoolDownMs,
    });
  });

  it.each(EVIDENCE)(
    'remembers evidence (%s) that comes during a half-open trial: when the trial fails, the next one is at the gate, not after a whole cool-down',
    (_name, event) => {
      const run = failTimes(new Run(), 'transient', 5);
      run.at(run.state.nextRetryAt!, { type: 'cool-down-over' });
      expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open' });
      // The server comes back while the trial (sent before it did) is still on its way.
      run.at(run.now + 50, event);
      run.at(run.now + 50, {
        type: 'cycle-failed',
        cycleId: run.cycleId,
        failure: failure('transient'),
      });
      expect(run.state).toMatchObject({ name: 'paused', circuit: 'open' });
      expect(run.state.nextRetryAt).toBeLessThanOrEqual(run.now + 60_000);
      expect(run.state.nextRetryAt).toBeGreaterThan(run.now);
    },
  );

  it.each(EVIDENCE)(
    'tries at once when evidence comes after the gate (%s), and closes on success',
    (_name, event) => {
      const run = failTimes(new Run(), 'transient', 5);
      const failedAt = run.now;
      // The gate: the streak's backoff goes on at attempt threshold - 1, 16 s for transient.
      run.at(failedAt + 16_000, event);
      expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open' });
      expect(run.state.inSyncSince).toBeNull();
      run.at(run.now + 100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
      expect(run.state).toMatchObject({
        name: 'idle',
        circuit: 'closed',
        consecutiveFailures: 0,
        evidenceTrials: 0,
        inSyncSince: run.now,
      });
    },
  );

  it.each(EVIDENCE)(
    'brings the trial forward to the gate when evidence (%s) comes before it',
    (_name, event) => {
      const run = failTimes(new Run(), 'transient', 5);
      const gate = run.now + 16_000;
      run.at(run.now + 1_000, event);
      expect(run.state).toMatchObject({ name: 'paused', circuit: 'open', nextRetryAt: gate });
      expect(run.effects).toContainEqual({ type: 'set-timer', name: 'cool-down', at: gate });
      run.at(gate, { type: 'cool-down-over' });
      expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open', evidenceTrials: 1 });
    },
  );

  it('doubles the gate per failed trial that evidence started, and starts over after a quiet cool-down', () => {
    const run = failTimes(new Run(), 'transient', 5);
    const gates: number[] = [];
    for (let trial = 0; trial < 9; trial++) {
      const failedAt = run.now;
      // Evidence every second: the trial starts exactly at the gate, never before.
      for (let second = 0; run.state.name === 'paused' && second < 3_600; second++) {
        run.at(run.now + 1_000, { type: 'poke', bundleSeq: 1 });
      }
      gates.push(run.now - failedAt);
      run.at(run.now, {
        type: 'cycle-failed',
        cycleId: run.cycleId,
        failure: failure('transient'),
      });
    }
    // 16 s · 2^k up to the backoff cap (15 min); evidence arrives on whole seconds.
    expect(gates).toEqual([16, 32, 64, 128, 256, 512, 900, 900, 900].map((s) => s * 1_000));
    expect(run.state.evidenceTrials).toBe(9);
    // Thirty minutes without a trial: the cool-down runs out, and the gate starts over.
    run.at(run.state.nextRetryAt!, { type: 'cool-down-over' });
    expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open', evidenceTrials: 0 });
    run.at(run.now, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('transient') });
    run.at(run.now + 16_000, { type: 'realtime', connected: true });
    expect(run.state).toMatchObject({ name: 'pushing', evidenceTrials: 1 });
  });

  it('never lets evidence start a trial before a Retry-After', () => {
    const run = failTimes(new Run(), 'transient', 4);
    run.at(run.state.nextRetryAt!, { type: 'timer', name: 'retry' });
    const retryAfterMs = 20 * 60_000;
    run.at(run.now + 100, {
      type: 'cycle-failed',
      cycleId: run.cycleId,
      failure: failure('rate-limited', { retryAfterMs }),
    });
    const failedAt = run.now;
    run.at(failedAt + 60_000, { type: 'realtime', connected: true });
    expect(run.state).toMatchObject({ name: 'paused', nextRetryAt: failedAt + retryAfterMs });
    run.at(failedAt + retryAfterMs, { type: 'cool-down-over' });
    expect(run.state.name).toBe('pushing');
  });

  it('reopens the circuit when going offline cuts a half-open trial short', () => {
    const run = failTimes(new Run(), 'transient', 5);
    const coolDownEnd = run.state.nextRetryAt!;
    run.at(run.now + 16_000, { type: 'online' });
    expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open' });
    run.at(run.now + 10, { type: 'offline' });
    expect(run.state).toMatchObject({ name: 'offline', circuit: 'open', nextRetryAt: coolDownEnd });
    // Back online at once: the next gate (32 s) has not passed, so no second trial yet.
    run.at(run.now + 10, { type: 'online' });
    expect(run.state).toMatchObject({ name: 'paused', circuit: 'open' });
  });

  it('starts at most 17 automatic cycles in any hour of an outage, however evidence comes (default schedule)', () => {
    const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`circuit bound: SEED=${seed}`);
    const random = createSeededRandom(seed);
    const HOUR = 60 * 60_000;
    // Each strategy says, at a time, whether evidence (of one of the kinds) arrives then.
    const strategies: [string, (t: number, cycles: number) => boolean][] = [
      ['never', () => false],
      ['every second', () => true],
      // Withhold evidence after the n-th cycle until the cool-down runs out quietly (the gate
      // starts over), and again after every further n - 4: the worst case of the analysis.
      ...[6, 7, 8, 9, 10, 11, 12, 13].map((n): [string, (t: number, cycles: number) => boolean] => [
        `quiet after cycle ${n}`,
        (_t, cycles) => cycles < n || (cycles - n) % (n - 4) !== 0,
      ]),
      ['random', () => random() < 0.3],
      ['random bursts', (t) => Math.floor(t / (7 * 60_000)) % 3 !== 0 && random() < 0.5],
    ];
    let overall = 0;
    for (const [name, evidenceAt] of strategies) {
      const starts = simulateOutage(6 * HOUR, evidenceAt, random);
      let worst = 0;
      for (const [i, start] of starts.entries()) {
        const inHour = starts.filter((t) => t >= start && t < start + HOUR).length;
        worst = Math.max(worst, inHour);
        overall = Math.max(overall, inHour);
        expect(inHour, `seed ${seed}, ${name}: the hour from cycle ${i}`).toBeLessThanOrEqual(17);
      }
      console.log(
        `circuit bound, ${name}: ${starts.length} cycles in 6 h, at most ${worst} in an hour`,
      );
      if (name === 'every second') {
        // Steady evidence: the gate reaches the backoff cap, 15 min: 4 trials an hour.
        const lastHours = starts.filter((t) => t >= starts[0]! + 2 * HOUR);
        for (const start of lastHours) {
          expect(
            lastHours.filter((t) => t >= start && t < start + HOUR).length,
          ).toBeLessThanOrEqual(4);
        }
      }
      // Five to open the circuit (by 8 s), then the cool-down alone: one every 30 min.
      if (name === 'never') expect(starts.length).toBe(5 + 11);
    }
    // The bound is reached (quiet after cycle 11): the analysis in docs/client.md is exact.
    expect(overall).toBe(17);
  });

  it('lets sync-now bypass an open circuit with a half-open trial', () => {
    const run = failTimes(new Run(), 'transient', 5);
    run.at(run.now + 1_000, { type: 'sync-now' });
    expect(run.state).toMatchObject({ name: 'pushing', circuit: 'half-open' });
  });

  it('does not count conflicts or auth failures toward the circuit', () => {
    const run = failTimes(new Run(), 'conflict', 3);
    expect(run.state.consecutiveFailures).toBe(0);
    expect(run.state.name).toBe('pushing');
  });

  it('honours a custom threshold and cool-down', () => {
    const options = resolveSyncSchedule({ circuitThreshold: 2, circuitCoolDownMs: 60_000 });
    let state = startSyncMachine({}, { ...ctx(T0), options }).state;
    state = transition(
      state,
      { type: 'cycle-failed', cycleId: 1, failure: failure('transient') },
      { ...ctx(T0 + 1), options },
    ).state;
    state = transition(state, { type: 'sync-now' }, { ...ctx(T0 + 2), options }).state;
    state = transition(
      state,
      { type: 'cycle-failed', cycleId: 2, failure: failure('transient') },
      { ...ctx(T0 + 3), options },
    ).state;
    expect(state).toMatchObject({ name: 'paused', nextRetryAt: T0 + 3 + 60_000 });
  });
});

describe('connectivity', () => {
  it('aborts the cycle in flight when going offline and keeps its work pending', () => {
    const run = new Run().at(T0 + 50, { type: 'offline' });
    expect(run.effects).toContainEqual({ type: 'abort-cycle', cycleId: 1 });
    expect(run.state.pending).toMatchObject({ push: true, pull: true });
    expect(run.state.consecutiveFailures).toBe(0);
  });

  it('syncs at once when back online, ignoring the throttle and any backoff', () => {
    const run = failTimes(new Run(), 'transient', 2).at(T0 + 5_000, { type: 'offline' });
    run.at(T0 + 5_001, { type: 'online' });
    expect(run.state.name).toBe('pushing');
    expect(run.state.cycle?.kind).toBe('full');
  });

  it('keeps the circuit open across an offline spell; back online is evidence, gated', () => {
    const paused = failTimes(new Run(), 'transient', 5);
    const failedAt = paused.now;
    const coolDownEnd = paused.state.nextRetryAt!;
    paused.at(paused.now + 10, { type: 'offline' });
    expect(paused.state.nextRetryAt).toBe(coolDownEnd);
    // Before the gate (16 s after the failure): the trial is set for the gate.
    const early = transition(paused.state, { type: 'online' }, ctx(failedAt + 1_000));
    expect(early.state).toMatchObject({ name: 'paused', nextRetryAt: failedAt + 16_000 });
    expect(summarize(early.effects)).toContain('set-timer:cool-down');
    // Past the gate, long before the cool-down's end: one trial at once.
    const later = transition(paused.state, { type: 'online' }, ctx(failedAt + 16_000));
    expect(later.state).toMatchObject({ name: 'pushing', circuit: 'half-open', evidenceTrials: 1 });
    const late = transition(paused.state, { type: 'online' }, ctx(coolDownEnd + 1));
    expect(late.state).toMatchObject({ name: 'pushing', circuit: 'half-open', evidenceTrials: 0 });
  });

  it('says in sync only from a successful cycle until a failure or going offline', () => {
    const run = new Run();
    expect(run.state.inSyncSince).toBeNull();
    run.at(T0 + 100, { type: 'cycle-succeeded', cycleId: 1, outcome: {} });
    expect(run.state.inSyncSince).toBe(T0 + 100);
    run.at(T0 + 40_000, { type: 'timer', name: 'periodic' });
    run.at(T0 + 40_100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    expect(run.state.inSyncSince).toBe(T0 + 100); // the run goes on
    run.at(T0 + 41_000, { type: 'offline' }).at(T0 + 42_000, { type: 'online' });
    expect(run.state).toMatchObject({ name: 'pushing', inSyncSince: null });
    run.at(T0 + 42_100, {
      type: 'cycle-failed',
      cycleId: run.cycleId,
      failure: failure('transient'),
    });
    // A retry starting is not a success: still not in sync.
    run.at(run.state.nextRetryAt!, { type: 'timer', name: 'retry' });
    expect(run.state).toMatchObject({ name: 'pushing', inSyncSince: null });
    run.at(run.now + 100, { type: 'cycle-succeeded', cycleId: run.cycleId, outcome: {} });
    expect(run.state.inSyncSince).toBe(run.now);
  });

  it('refreshes the token again after an answer proved the refreshed one was accepted', () => {
    const run = failTimes(new Run(), 'auth', 1);
    expect(run.effects.map((e) => e.type)).toContain('refresh-auth');
    run.at(run.now + 50, { type: 'auth-refreshed', newToken: true });
    expect(run.state.name).toBe('pushing');
    // The new token got past authentication (a 409), then expired: refresh once more.
    run.at(run.now + 50, {
      type: 'cycle-failed',
      cycleId: run.cycleId,
      failure: failure('conflict'),
    });
    expect(run.state.cycle).not.toBeNull();
    run.at(run.now + 50, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('auth') });
    expect(run.state).toMatchObject({ name: 'blocked-auth', auth: 'refreshing' });
    expect(run.effects.map((e) => e.type)).toContain('refresh-auth');
  });

  it('does not refresh twice when nothing proved the refreshed token was accepted', () => {
    const run = failTimes(new Run(), 'auth', 1);
    run.at(run.now + 50, { type: 'auth-refreshed', newToken: true });
    run.at(run.now + 50, { type: 'cycle-failed', cycleId: run.cycleId, failure: failure('auth') });
    expect(run.state).toMatchObject({ name: 'blocked-auth', auth: 'failed' });
    expect(run.effects.map((e) => e.type)).not.toContain('refresh-auth');
  });

  it('returns to blocked-auth after an offline spell when the token is still refused', () => {
    const run = failTimes(new Run(), 'auth', 1)
      .at(T0 + 150, { type: 'offline' })
      .at(T0 + 200, { type: 'auth-refreshed', newToken: false })
      .at(T0 + 300, { type: 'online' });
    expect(run.state).toMatchObject({ name: 'blocked-auth', auth: 'failed' });
  });

  it('starts offline without a cycle when the app says it is offline', () => {
    const run = new Run({ online: false });
    expect(run.state.name).toBe('offline');
    expect(summarize(run.effects)).toEqual(['emit-status']);
    run.at(T0 + 10, { type: 'online' });
    expect(summarize(run.effects)).toEqual(['start-cycle:full', 'subscribe-events', 'emit-status']);
  });
});

describe('the effects', () => {
  it('bring the world from nothing to the first state', () => {
    expect(summarize(new Run().effects)).toEqual([
      'start-cycle:full',
      'subscribe-events',
      'emit-status',
    ]);
    expect(summarize(new Run({ syncOnStart: false }).effects)).toEqual([
      'set-timer:periodic',
      'subscribe-events',
      'emit-status',
    ]);
  });

  it('keep the timers, subscription and cycle of a random walk exactly as the state requires', () => {
    const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    const steps = Number(process.env['STEPS'] ?? 20_000);
    console.log(`state machine random walk: SEED=${seed} STEPS=${steps}`);
    const random = createSeededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const classes: FailureClass[] = [
      'transient',
      'server-error',
      'rate-limited',
      'auth',
      'rejected',
      'conflict',
      'conflict',
      'conflict',
      'conflict',
      'bundle',
      'history',
      'fatal',
    ];

    let now = T0;
    const start = startSyncMachine({ syncOnStart: random() < 0.5 }, ctx(now, random));
    let state = start.state;
    const timers = new Map<TimerName, number>();
    let subscribed = false;
    // Assigned inside apply(): keep TS from narrowing it to null in the loop.
    let running = null as number | null;
    const apply = (effects: readonly SyncEffect[]): void => {
      for (const effect of effects) {
        switch (effect.type) {
          case 'set-timer':
            timers.set(effect.name, effect.at);
            break;
          case 'cancel-timer':
            expect(timers.has(effect.name)).toBe(true);
            timers.delete(effect.name);
            break;
          case 'start-cycle':
            expect(running).toBeNull();
            running = effect.cycleId;
            break;
          case 'abort-cycle':
            expect(running).toBe(effect.cycleId);
            running = null;
            break;
          case 'subscribe-events':
            expect(subscribed).toBe(false);
            subscribed = true;
            break;
          case 'unsubscribe-events':
            expect(subscribed).toBe(true);
            subscribed = false;
            break;
          default:
            break;
        }
      }
    };
    apply(start.effects);

    const seen = new Set<SyncStateName>();
    for (let i = 0; i < steps; i++) {
      const roll = random();
      let event: SyncEvent;
      if (roll < 0.000_02) {
        event = { type: 'close' };
      } else if (roll < 0.3 && timers.size > 0) {
        // The shell's clock fires the earliest timer at its time.
        const [name, at] = [...timers].sort((a, b) => a[1] - b[1])[0]!;
        now = Math.max(now, at);
        timers.delete(name);
        event = name === 'cool-down' ? { type: 'cool-down-over' } : { type: 'timer', name };
      } else if (roll < 0.55 && running !== null) {
        now += Math.floor(random() * 3_000);
        const cycleId: number = random() < 0.05 ? running + 7 : running;
        const r = random();
        event =
          r < 0.45
            ? { type: 'cycle-succeeded', cycleId, outcome: { morePush: random() < 0.1 } }
            : r < 0.55
              ? { type: 'cycle-progress', cycleId, phase: 'pull' }
              : {
                  type: 'cycle-failed',
                  cycleId,
                  failure: failure(pick(classes), {
                    retryAfterMs: random() < 0.2 ? Math.floor(random() * 120_000) : null,
                  }),
                };
        if (event.type !== 'cycle-progress' && cycleId === running) running = null;
      } else {
        now += Math.floor(random() * 5_000);
        event = pick<SyncEvent>([
          { type: 'local-write' },
          { type: 'local-write' },
          { type: 'poke', bundleSeq: Math.floor(random() * 50) + 1 },
          { type: 'poke', bundleSeq: null },
          { type: 'online' },
          { type: 'offline' },
          { type: 'foreground' },
          { type: 'background' },
          { type: 'sync-now' },
          { type: 'realtime', connected: random() < 0.5 },
          { type: 'auth-refreshed', newToken: random() < 0.5 },
          { type: 'timer', name: pick(['debounce', 'throttle', 'retry', 'periodic'] as const) },
          { type: 'cool-down-over' },
        ]);
        if (event.type === 'timer') timers.delete(event.name);
        if (event.type === 'cool-down-over') timers.delete('cool-down');
      }
      const result = transition(state, event, ctx(now, random));
      state = result.state;
      apply(result.effects);
      seen.add(state.name);
      const where = `seed ${seed}, step ${i}, event ${JSON.stringify(event)}, state ${state.name}`;
      expect(syncStateInvariantViolations(state, OPTIONS), where).toEqual([]);
      expect(Object.fromEntries(timers), where).toEqual(
        Object.fromEntries(timersOf(state, OPTIONS)),
      );
      expect(subscribed, where).toBe(isSubscribed(state));
      expect(running, where).toBe(state.cycle?.id ?? null);
      if (state.name === 'closed') break;
    }
    expect(seen.size).toBeGreaterThanOrEqual(7);
    console.log(`random walk visited: ${[...seen].sort().join(', ')}`);
  });
});

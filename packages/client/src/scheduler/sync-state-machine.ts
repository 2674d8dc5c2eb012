/**
 * The scheduler's one state machine: a pure `transition(state, event, context) → { state,
 * effects }`. It decides when sync cycles run, how failures are retried, when the circuit opens
 * and what the status says; it does no I/O. Effects are data that the shell
 * (`sync-scheduler.ts`) carries out with the real clock, network and app callbacks.
 *
 * ```text
 *               write (debounced) | poke | periodic | sync-now | realtime up
 *   +--------+ -----------------------------------------------> +-----------+
 *   |  idle  |                                                  |  pushing  |
 *   |        | <-------------- cycle-succeeded ---------------- |     |     |
 *   +--------+   (more work: the next cycle, throttled)         |  progress |
 *                                                               |     v     |
 *                                                               |  pulling  |
 *                                                               +-----------+
 *                                                                 |      ^
 *        transient | server-error | rate-limited | fatal failure  |      |
 *   +-------------------------------------------------------------+      |
 *   v                                                                    |
 *   +---------+ --------------- timer:retry | sync-now ------------------->+
 *   | backoff |                                                          |
 *   +---------+                                                          |
 *        | the N-th failure in a row (or a failed half-open trial)       |
 *        v                                                               |
 *   +--------+ -- cool-down-over | sync-now | evidence, gate passed ---->+
 *   | paused |      (half-open: one trial; its success closes the circuit,
 *   +--------+       its failure opens it again with a fresh cool-down)
 *     |    ^
 *     +----+ evidence before the gate: the trial is brought forward to the gate
 *
 *   evidence = the server looks reachable: the events stream connected, a poke, online.
 *   gate     = lastFailure.at + backoffBound(threshold - 1 + evidenceTrials): the failure
 *              streak's backoff goes on, one doubling per trial that evidence started (capped
 *              at backoff.capMs, never before a Retry-After). A cool-down that ran out quietly
 *              (no trial for circuitCoolDownMs) resets evidenceTrials. sync-now is not gated.
 *
 *   conflict (retries left), or a first bundle / history / rejected failure:
 *                              the next cycle at once (history: a hydrate cycle)
 *   auth failure            -> blocked-auth: refresh the token once; a new token -> cycle;
 *                              none, or a second 401 -> stay until sync-now or a new token
 *   conflict, retries spent -> blocked-conflict -> cycle on write | poke | periodic | sync-now
 *   any --offline--> offline --online--> cycle at once (blocked-auth if that holds; with
 *                              the circuit open, online is evidence: as in paused; a half-open
 *                              trial cut short by offline leaves the circuit open again)
 *   inSyncSince: set by a successful cycle, cleared by any failed one and by offline
 *   any --close--> closed (terminal: every event is ignored)
 * ```
 *
 * Effects are the difference between what the previous and the next state require: the
 * timers of a state are a function of it ({@link timersOf}), so are the events subscription
 * ({@link isSubscribed}) and the running cycle. A transition therefore can never leave a stale
 * timer behind or forget to start one.
 *
 * @module
 */
import { backoffBound, backoffDelay } from './backoff.js';
import type { Failure } from './classify-failure.js';
import type { SyncScheduleOptions } from './sync-schedule.js';

/** The machine's states, as the status reports them. */
export const SYNC_STATE_NAMES = [
  'idle',
  'pushing',
  'pulling',
  'backoff',
  'blocked-auth',
  'blocked-conflict',
  'paused',
  'offline',
  'closed',
] as const;
/** One of {@link SYNC_STATE_NAMES}. */
export type SyncStateName = (typeof SYNC_STATE_NAMES)[number];

/**
 * What a cycle does: `push` the outbox, `pull` new bundles, `full` (push then pull; the engine
 * may use one /v1/sync round trip), `hydrate` (replace server state from /v1/snapshot after a
 * 410).
 */
export const CYCLE_KINDS = ['push', 'pull', 'full', 'hydrate'] as const;
/** One of {@link CYCLE_KINDS}. */
export type CycleKind = (typeof CYCLE_KINDS)[number];

/** The machine's named timers. At most one of each name is set at a time. */
export const TIMER_NAMES = ['debounce', 'throttle', 'periodic', 'retry', 'cool-down'] as const;
/** One of {@link TIMER_NAMES}. */
export type TimerName = (typeof TIMER_NAMES)[number];
/** Timers that fire as a `timer` event; `cool-down` fires as `cool-down-over`. */
export type TimerEventName = Exclude<TimerName, 'cool-down'>;

/** The circuit breaker: closed (normal), open (paused), half-open (one trial cycle). */
export const CIRCUIT_STATES = ['closed', 'open', 'half-open'] as const;
/** One of {@link CIRCUIT_STATES}. */
export type CircuitState = (typeof CIRCUIT_STATES)[number];

/** Token state: usable, a refresh in flight, or the refresh gave no new token. */
export const AUTH_STATES = ['ok', 'refreshing', 'failed'] as const;
/** One of {@link AUTH_STATES}. */
export type AuthState = (typeof AUTH_STATES)[number];

/** Work requested and not yet started. */
export interface PendingWork {
  /** Local writes (or a failed push) wait to be pushed. */
  readonly push: boolean;
  /** A pull is wanted for a reason other than a poke with a known bundleSeq. */
  readonly pull: boolean;
  /** A 410 asked for hydration. */
  readonly hydrate: boolean;
  /** Start as soon as possible, ignoring debounce and throttle (sync-now, reconnect, retry). */
  readonly urgent: boolean;
}

/** The cycle in flight. */
export interface ActiveCycle {
  readonly id: number;
  readonly kind: CycleKind;
  readonly startedAt: number;
}

/** A {@link Failure} with the time it happened. */
export interface FailureRecord extends Failure {
  readonly at: number;
}

/** What a successful cycle tells the machine. Every field is optional. */
export interface CycleOutcome {
  /** The outbox still holds pending entries the cycle did not send (over the bundle limit). */
  readonly morePush?: boolean;
  /** The pull stopped before the server's horizon. */
  readonly morePull?: boolean;
  /** Highest bundleSeq now applied locally; lets the machine skip pokes it already has. */
  readonly bundleSeq?: number;
}

/**
 * The machine's state: a plain, immutable value.
 *
 * Invariants (checked by {@link syncStateInvariantViolations}):
 * 1. `cycle !== null` exactly when `name` is `pushing` or `pulling`; `pushing` runs a `push` or
 *    `full` cycle, and a `pull` or `hydrate` cycle is always `pulling`; `cycle.id < nextCycleId`.
 * 2. `name === 'offline'` exactly when `!online` (except `closed`, which keeps the last value).
 * 3. `circuit === 'open'` only in `paused`, `offline` or `closed`; `paused` always has it open.
 * 4. `nextRetryAt !== null` exactly in `backoff` and `paused`, and in `offline` with the circuit
 *    open (the cool-down still counts while offline).
 * 5. `wake !== null` only in `idle`, and in `idle` exactly when work is wanted: work never
 *    waits without a timer.
 * 6. `auth !== 'ok'` only in `blocked-auth`, `offline` or `closed`; `blocked-auth` never has it
 *    `ok`.
 * 7. `firstWriteAt` and `lastWriteAt` are both null or both set, `firstWriteAt ≤ lastWriteAt`,
 *    and an open write window implies `pending.push`.
 * 8. `consecutiveFailures > 0`, and every state that waits on a failure (`backoff`,
 *    `blocked-auth`, `blocked-conflict`, `paused`), imply `lastFailure !== null`: a stop is
 *    never silent.
 * 9. `closed` has no cycle, no wake, no retry time: nothing is left to run.
 * 10. `pending.urgent` only in `pushing`, `pulling`, or `blocked-auth` with a refresh in
 *     flight: an urgent request (someone awaits `syncNow()`) is always about to be served.
 * 11. `inSyncSince !== null` implies a successful cycle and nothing since that undid it: no
 *     `lastFailure`, online, the circuit closed, and not waiting (`backoff`, `blocked-*`,
 *     `paused`, `offline`). "In sync" is never claimed without a successful exchange.
 * 12. `evidenceTrials > 0` only with the circuit not closed, and only after a failure.
 * 13. In `paused`, `nextRetryAt` is never later than the end of the cool-down
 *     (`lastFailure.at + circuitCoolDownMs`); evidence can only bring it forward, and never
 *     before the gate.
 */
export interface SyncMachineState {
  readonly name: SyncStateName;
  readonly online: boolean;
  readonly foreground: boolean;
  /** The events subscription reported itself connected. */
  readonly realtimeConnected: boolean;
  readonly circuit: CircuitState;
  /**
   * Half-open trials that evidence of a reachable server started while the circuit was open;
   * each doubles the wait before evidence may start the next. Back to 0 when the circuit
   * closes or a cool-down runs out without any trial.
   */
  readonly evidenceTrials: number;
  /**
   * Evidence that the server is back came while a half-open trial was running: if the trial
   * fails (it may have been sent before the server came back), the next trial is at the gate,
   * not after a whole cool-down.
   */
  readonly evidenceInTrial: boolean;
  /**
   * When the current run of successful cycles began; null before the first success, after a
   * failed cycle and after going offline until the next success. The one ground for "in sync".
   */
  readonly inSyncSince: number | null;
  /** Failed cycles in a row that count toward the circuit (all classes but auth, conflict). */
  readonly consecutiveFailures: number;
  /** 409 conflicts in a row since the last success. */
  readonly conflictCycles: number;
  readonly auth: AuthState;
  /**
   * A token refresh was already spent in this auth episode (refresh once, then stop). The
   * episode ends with a success or with any answer that shows the token was accepted.
   */
  readonly authRefreshUsed: boolean;
  /** backoff: when the retry starts; paused: when the cool-down ends. */
  readonly nextRetryAt: number | null;
  /** idle: when the next cycle starts and which timer waits for it. */
  readonly wake: { readonly timer: 'debounce' | 'throttle'; readonly at: number } | null;
  readonly pending: PendingWork;
  /** First local write of the current debounce window. */
  readonly firstWriteAt: number | null;
  /** Last local write of the current debounce window. */
  readonly lastWriteAt: number | null;
  /** Highest bundleSeq announced by a poke. */
  readonly pokeSeq: number;
  /** Highest bundleSeq applied, or covered by a pull that has started. */
  readonly coveredSeq: number;
  readonly cycle: ActiveCycle | null;
  readonly nextCycleId: number;
  readonly lastCycleStartedAt: number | null;
  /** The periodic timer counts from here (the end of the last cycle, or the start). */
  readonly periodicFrom: number;
  readonly lastPushAt: number | null;
  readonly lastPullAt: number | null;
  /** The failure of the current failure streak; cleared by a successful cycle. */
  readonly lastFailure: FailureRecord | null;
}

/** The event types, one per kind of thing that can happen to the scheduler. */
export const SYNC_EVENT_TYPES = [
  'local-write',
  'timer',
  'poke',
  'online',
  'offline',
  'foreground',
  'background',
  'sync-now',
  'realtime',
  'cycle-progress',
  'cycle-succeeded',
  'cycle-failed',
  'auth-refreshed',
  'cool-down-over',
  'close',
] as const;
/** One of {@link SYNC_EVENT_TYPES}. */
export type SyncEventType = (typeof SYNC_EVENT_TYPES)[number];

/** Something that happened. Events naming a cycle that is not running are ignored. */
export type SyncEvent =
  | { readonly type: 'local-write' }
  | { readonly type: 'timer'; readonly name: TimerEventName }
  | { readonly type: 'poke'; readonly bundleSeq: number | null }
  | { readonly type: 'online' }
  | { readonly type: 'offline' }
  | { readonly type: 'foreground' }
  | { readonly type: 'background' }
  | { readonly type: 'sync-now' }
  | { readonly type: 'realtime'; readonly connected: boolean }
  /** The push half of a `full` cycle succeeded; the engine now pulls. */
  | { readonly type: 'cycle-progress'; readonly cycleId: number; readonly phase: 'pull' }
  | { readonly type: 'cycle-succeeded'; readonly cycleId: number; readonly outcome: CycleOutcome }
  | { readonly type: 'cycle-failed'; readonly cycleId: number; readonly failure: Failure }
  /** A token refresh finished (`newToken`: it yielded a different token), or the app has one. */
  | { readonly type: 'auth-refreshed'; readonly newToken: boolean }
  | { readonly type: 'cool-down-over' }
  | { readonly type: 'close' };

/** What the shell must do. Executed in the order given. */
export type SyncEffect =
  | { readonly type: 'abort-cycle'; readonly cycleId: number }
  | { readonly type: 'cancel-timer'; readonly name: TimerName }
  /** Set (or replace) the timer of this name. */
  | { readonly type: 'set-timer'; readonly name: TimerName; readonly at: number }
  | { readonly type: 'start-cycle'; readonly cycleId: number; readonly kind: CycleKind }
  | { readonly type: 'subscribe-events' }
  | { readonly type: 'unsubscribe-events' }
  /** Reconnect the events subscription with a fresh token. */
  | { readonly type: 'resubscribe-events' }
  /** Ask the app for a new token (`getToken({ forceRefresh: true })`), once. */
  | { readonly type: 'refresh-auth' }
  | { readonly type: 'emit-status' };

/** What the transition may know besides the state and the event. */
export interface TransitionContext {
  /** The clock's current time, ms. */
  readonly now: number;
  readonly options: SyncScheduleOptions;
  /** Numbers in [0, 1) for backoff jitter; called only when a backoff is computed. */
  readonly random: () => number;
}

/** A transition's result. */
export interface Transition {
  readonly state: SyncMachineState;
  readonly effects: readonly SyncEffect[];
}

/** Initial conditions of {@link startSyncMachine}. */
export interface SyncMachineInit {
  /** Default true. */
  readonly online?: boolean;
  /** Default true. */
  readonly foreground?: boolean;
  /** Start with a full cycle (catch up with the server). Default true. */
  readonly syncOnStart?: boolean;
}

/**
 * The first state, and the effects that bring the world from "nothing" to it (the periodic
 * timer, the events subscription, the first cycle).
 */
export function startSyncMachine(init: SyncMachineInit, context: TransitionContext): Transition {
  const online = init.online ?? true;
  const initial: SyncMachineState = {
    name: online ? 'idle' : 'offline',
    online,
    foreground: init.foreground ?? true,
    realtimeConnected: false,
    circuit: 'closed',
    evidenceTrials: 0,
    evidenceInTrial: false,
    inSyncSince: null,
    consecutiveFailures: 0,
    conflictCycles: 0,
    auth: 'ok',
    authRefreshUsed: false,
    nextRetryAt: null,
    wake: null,
    pending: (init.syncOnStart ?? true) ? { ...FULL_NOW, urgent: online } : NO_WORK,
    firstWriteAt: null,
    lastWriteAt: null,
    pokeSeq: 0,
    coveredSeq: 0,
    cycle: null,
    nextCycleId: 1,
    lastCycleStartedAt: null,
    periodicFrom: context.now,
    lastPushAt: null,
    lastPullAt: null,
    lastFailure: null,
  };
  const state = online ? settleIdle(initial, context) : initial;
  return { state, effects: effectsBetween(null, state, context.options, NO_STEP_EXTRAS) };
}

/**
 * The transition function. Pure: the same state, event and context (with a deterministic
 * `random`) give the same result.
 *
 * @example
 * const ctx = { now: clock.now(), options: DEFAULT_SYNC_SCHEDULE, random: Math.random };
 * const { state: next, effects } = transition(state, { type: 'local-write' }, ctx);
 * // effects: [{ type: 'set-timer', name: 'debounce', at: ctx.now + 2000 }, { type: 'emit-status' }]
 */
export function transition(
  state: SyncMachineState,
  event: SyncEvent,
  context: TransitionContext,
): Transition {
  if (state.name === 'closed') return { state, effects: [] };
  const step = reduce(state, event, context);
  return {
    state: step.state,
    effects: effectsBetween(state, step.state, context.options, step),
  };
}

/** The timers a state requires, by name, with their due times. */
export function timersOf(
  state: SyncMachineState,
  options: SyncScheduleOptions,
): Map<TimerName, number> {
  const timers = new Map<TimerName, number>();
  switch (state.name) {
    case 'idle':
      timers.set('periodic', periodicAt(state, options));
      if (state.wake !== null) timers.set(state.wake.timer, state.wake.at);
      break;
    case 'blocked-conflict':
      timers.set('periodic', periodicAt(state, options));
      break;
    case 'backoff':
      if (state.nextRetryAt !== null) timers.set('retry', state.nextRetryAt);
      break;
    case 'paused':
      if (state.nextRetryAt !== null) timers.set('cool-down', state.nextRetryAt);
      break;
    default:
      break;
  }
  return timers;
}

/** Whether the state wants the events subscription open: online, foreground, not closed. */
export function isSubscribed(state: SyncMachineState): boolean {
  return state.name !== 'closed' && state.online && state.foreground;
}

/** Whether any work is wanted (pending flags, or a poke newer than what is covered). */
export function wantsWork(state: SyncMachineState): boolean {
  const p = state.pending;
  return p.push || p.pull || p.hydrate || p.urgent || state.pokeSeq > state.coveredSeq;
}

/**
 * The invariants of {@link SyncMachineState} that `state` breaks, as messages (empty: none).
 * Invariant 13 depends on the schedule: it is checked when `options` are given.
 */
export function syncStateInvariantViolations(
  state: SyncMachineState,
  options?: SyncScheduleOptions,
): string[] {
  const v: string[] = [];
  const { name, cycle } = state;
  const running = name === 'pushing' || name === 'pulling';
  if ((cycle !== null) !== running) v.push('1: a cycle runs exactly in pushing/pulling');
  if (cycle !== null) {
    if (name === 'pushing' && cycle.kind !== 'push' && cycle.kind !== 'full')
      v.push(`1: pushing runs a ${cycle.kind} cycle`);
    if ((cycle.kind === 'pull' || cycle.kind === 'hydrate') && name !== 'pulling')
      v.push(`1: a ${cycle.kind} cycle in ${name}`);
    if (cycle.id >= state.nextCycleId) v.push('1: cycle id not below nextCycleId');
  }
  if (name !== 'closed' && (name === 'offline') !== !state.online)
    v.push('2: offline exactly when not online');
  if (state.circuit === 'open' && !['paused', 'offline', 'closed'].includes(name))
    v.push(`3: circuit open in ${name}`);
  if (name === 'paused' && state.circuit !== 'open') v.push('3: paused with the circuit not open');
  const retryExpected =
    name === 'backoff' || name === 'paused' || (name === 'offline' && state.circuit === 'open');
  if ((state.nextRetryAt !== null) !== retryExpected)
    v.push(`4: nextRetryAt ${state.nextRetryAt} in ${name} (circuit ${state.circuit})`);
  if (state.wake !== null && name !== 'idle') v.push(`5: wake set in ${name}`);
  if (name === 'idle' && (state.wake !== null) !== wantsWork(state))
    v.push('5: idle wants work without a wake timer, or has one without work');
  if (state.auth !== 'ok' && !['blocked-auth', 'offline', 'closed'].includes(name))
    v.push(`6: auth ${state.auth} in ${name}`);
  if (name === 'blocked-auth' && state.auth === 'ok') v.push('6: blocked-auth with auth ok');
  if ((state.firstWriteAt === null) !== (state.lastWriteAt === null))
    v.push('7: write window half set');
  if (state.firstWriteAt !== null && state.lastWriteAt !== null) {
    if (state.firstWriteAt > state.lastWriteAt) v.push('7: firstWriteAt after lastWriteAt');
    if (!state.pending.push) v.push('7: write window without pending push');
  }
  const waitsOnFailure = ['backoff', 'blocked-auth', 'blocked-conflict', 'paused'].includes(name);
  if ((state.consecutiveFailures > 0 || waitsOnFailure) && state.lastFailure === null)
    v.push(`8: ${name} with ${state.consecutiveFailures} failures and no lastFailure`);
  if (name === 'closed' && (cycle !== null || state.wake !== null || state.nextRetryAt !== null))
    v.push('9: closed with something left to run');
  if (state.pending.urgent && !running && !(name === 'blocked-auth' && state.auth === 'refreshing'))
    v.push(`10: urgent work waits in ${name}`);
  if (
    state.inSyncSince !== null &&
    (state.lastFailure !== null ||
      state.circuit !== 'closed' ||
      (name !== 'closed' && !state.online) ||
      waitsOnFailure ||
      (state.lastPushAt === null && state.lastPullAt === null))
  )
    v.push(`11: in sync since ${state.inSyncSince} in ${name} (circuit ${state.circuit})`);
  if (state.evidenceTrials > 0 && (state.circuit === 'closed' || state.lastFailure === null))
    v.push(`12: ${state.evidenceTrials} evidence trials with the circuit ${state.circuit}`);
  if (options !== undefined && name === 'paused' && state.nextRetryAt !== null) {
    const coolDownEnd = coolDownEndOf(state, options);
    if (state.nextRetryAt > coolDownEnd)
      v.push(`13: next trial at ${state.nextRetryAt}, after the cool-down's end ${coolDownEnd}`);
    const earliest = Math.min(trialGateOf(state, options), coolDownEnd);
    if (state.nextRetryAt < earliest)
      v.push(`13: next trial at ${state.nextRetryAt}, before the gate ${earliest}`);
  }
  return v;
}

// ---------------------------------------------------------------------------------------------

const NO_WORK: PendingWork = { push: false, pull: false, hydrate: false, urgent: false };
const FULL_NOW: PendingWork = { push: true, pull: true, hydrate: false, urgent: true };

/** A reduced event: the next state plus what the state diff cannot tell. */
interface Step {
  readonly state: SyncMachineState;
  /** The timer whose firing this event is: it is gone, so a still-wanted one must be re-set. */
  readonly fired?: TimerName;
  /** The cycle that finished (success or failure): no abort for it. */
  readonly completedCycleId?: number;
  readonly refreshAuth?: boolean;
  readonly resubscribe?: boolean;
}

const NO_STEP_EXTRAS = {} as const;

function reduce(s: SyncMachineState, event: SyncEvent, ctx: TransitionContext): Step {
  switch (event.type) {
    case 'close':
      return {
        state: {
          ...s,
          name: 'closed',
          cycle: null,
          wake: null,
          nextRetryAt: null,
          pending: { ...s.pending, urgent: false },
        },
      };

    case 'local-write': {
      const written: SyncMachineState = {
        ...s,
        firstWriteAt: s.firstWriteAt ?? ctx.now,
        lastWriteAt: ctx.now,
        pending: { ...s.pending, push: true },
      };
      if (s.name === 'idle' || s.name === 'blocked-conflict')
        return { state: settleIdle({ ...written, name: 'idle' }, ctx) };
      return { state: written };
    }

    case 'timer':
      return { state: onTimer(s, event.name, ctx), fired: event.name };

    case 'poke': {
      const known = event.bundleSeq !== null && event.bundleSeq <= s.coveredSeq;
      const poked: SyncMachineState = known
        ? s
        : event.bundleSeq === null
          ? { ...s, pending: { ...s.pending, pull: true } }
          : { ...s, pokeSeq: Math.max(s.pokeSeq, event.bundleSeq) };
      // Any poke came from the server, so it is evidence even when its bundle is known.
      if (s.name === 'paused') return { state: onEvidence(poked, ctx) };
      if (inTrial(s)) return { state: { ...poked, evidenceInTrial: true } };
      return { state: known ? s : wakeFromIdleOrConflict(poked, ctx) };
    }

    case 'realtime': {
      if (s.realtimeConnected === event.connected) return { state: s };
      if (!event.connected) return { state: { ...s, realtimeConnected: false } };
      // Pokes sent while the subscription was down are lost: catch up with one pull.
      const connected: SyncMachineState = {
        ...s,
        realtimeConnected: true,
        pending: { ...s.pending, pull: true },
      };
      if (s.name === 'paused') return { state: onEvidence(connected, ctx) };
      if (inTrial(s)) return { state: { ...connected, evidenceInTrial: true } };
      return { state: wakeFromIdleOrConflict(connected, ctx) };
    }

    case 'online':
      if (s.name === 'offline') return { state: resume(s, ctx) };
      if (inTrial(s)) return { state: { ...s, evidenceInTrial: true } };
      return { state: s.name === 'paused' ? onEvidence(s, ctx) : s };

    case 'offline':
      return { state: s.name === 'offline' ? s : goOffline(s, ctx) };

    case 'foreground':
    case 'background': {
      const foreground = event.type === 'foreground';
      if (s.foreground === foreground) return { state: s };
      const next: SyncMachineState = { ...s, foreground };
      if (next.name === 'idle') return { state: settleIdle(next, ctx) };
      if (next.name === 'blocked-conflict' && periodicAt(next, ctx.options) <= ctx.now)
        return { state: settleIdle(periodicWork({ ...next, name: 'idle' }, ctx), ctx) };
      return { state: next };
    }

    case 'sync-now':
      return { state: onSyncNow(s, ctx) };

    case 'cycle-progress': {
      const cycle = s.cycle;
      if (s.name !== 'pushing' || cycle?.id !== event.cycleId || cycle.kind !== 'full')
        return { state: s };
      return { state: { ...s, name: 'pulling', lastPushAt: ctx.now } };
    }

    case 'cycle-succeeded':
      if (s.cycle?.id !== event.cycleId) return { state: s };
      return { state: onSuccess(s, s.cycle, event.outcome, ctx), completedCycleId: s.cycle.id };

    case 'cycle-failed':
      if (s.cycle?.id !== event.cycleId) return { state: s };
      return { ...onFailure(s, s.cycle, event.failure, ctx), completedCycleId: s.cycle.id };

    case 'auth-refreshed':
      return onAuthRefreshed(s, event.newToken, ctx);

    case 'cool-down-over':
      if (s.name !== 'paused' || s.nextRetryAt === null) return { state: s };
      if (ctx.now < s.nextRetryAt) return { state: s, fired: 'cool-down' };
      return { state: dueTrial(s, ctx), fired: 'cool-down' };
  }
}

function onTimer(
  s: SyncMachineState,
  name: TimerEventName,
  ctx: TransitionContext,
): SyncMachineState {
  switch (name) {
    case 'debounce':
    case 'throttle':
      return s.name === 'idle' ? settleIdle(s, ctx) : s;
    case 'periodic':
      if (s.name === 'idle') return settleIdle(s, ctx);
      if (s.name === 'blocked-conflict' && periodicAt(s, ctx.options) <= ctx.now)
        return settleIdle(periodicWork({ ...s, name: 'idle' }, ctx), ctx);
      return s;
    case 'retry':
      if (s.name !== 'backoff' || s.nextRetryAt === null || ctx.now < s.nextRetryAt) return s;
      return startCycle({ ...s, name: 'idle', nextRetryAt: null }, ctx);
  }
}

function onSyncNow(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  const urgent = fullNow(s.pending);
  switch (s.name) {
    case 'idle':
    case 'backoff':
    case 'blocked-conflict':
      return settleIdle(
        { ...s, name: 'idle', nextRetryAt: null, conflictCycles: 0, pending: urgent },
        ctx,
      );
    case 'paused':
      return halfOpenTrial(s, ctx);
    case 'blocked-auth':
      if (s.auth === 'refreshing') return { ...s, pending: urgent };
      // The app may have signed in again: try, and allow one more refresh on a 401.
      return settleIdle(
        { ...s, name: 'idle', auth: 'ok', authRefreshUsed: false, pending: urgent },
        ctx,
      );
    case 'pushing':
    case 'pulling':
      return { ...s, pending: urgent };
    case 'offline':
    case 'closed':
      return s;
  }
}

function onAuthRefreshed(s: SyncMachineState, newToken: boolean, ctx: TransitionContext): Step {
  if (s.name === 'blocked-auth') {
    if (newToken) {
      const state = settleIdle(
        { ...s, name: 'idle', auth: 'ok', pending: fullNow(s.pending) },
        ctx,
      );
      return { state, resubscribe: true };
    }
    return {
      state:
        s.auth === 'refreshing'
          ? { ...s, auth: 'failed', pending: { ...s.pending, urgent: false } }
          : s,
    };
  }
  if (s.name === 'offline') {
    if (newToken) return { state: { ...s, auth: 'ok' } };
    return { state: s.auth === 'refreshing' ? { ...s, auth: 'failed' } : s };
  }
  return { state: s, resubscribe: newToken };
}

function onSuccess(
  s: SyncMachineState,
  cycle: ActiveCycle,
  outcome: CycleOutcome,
  ctx: TransitionContext,
): SyncMachineState {
  const { push, pull } = covers(cycle.kind);
  const bundleSeq = outcome.bundleSeq;
  return settleIdle(
    {
      ...s,
      name: 'idle',
      cycle: null,
      pending: {
        ...s.pending,
        push: s.pending.push || outcome.morePush === true,
        pull: s.pending.pull || outcome.morePull === true,
      },
      coveredSeq:
        typeof bundleSeq === 'number' && Number.isFinite(bundleSeq)
          ? Math.max(s.coveredSeq, bundleSeq)
          : s.coveredSeq,
      consecutiveFailures: 0,
      conflictCycles: 0,
      circuit: 'closed',
      evidenceTrials: 0,
      evidenceInTrial: false,
      inSyncSince: s.inSyncSince ?? ctx.now,
      authRefreshUsed: false,
      lastFailure: null,
      lastPushAt: push ? ctx.now : s.lastPushAt,
      lastPullAt: pull ? ctx.now : s.lastPullAt,
      periodicFrom: ctx.now,
    },
    ctx,
  );
}

/**
 * Failures that prove the server accepted the token (it answered past authentication): they end
 * an auth episode, so a later 401 (an expired token) may refresh again.
 */
const TOKEN_ACCEPTED = new Set<Failure['class']>([
  'conflict',
  'bundle',
  'history',
  'rejected',
  'rate-limited',
]);

/** Failures retried at once the first time: the engine already fixed what they reported. */
const RETRY_AT_ONCE = new Set<Failure['class']>(['bundle', 'history', 'rejected']);

function onFailure(
  s: SyncMachineState,
  cycle: ActiveCycle,
  failure: Failure,
  ctx: TransitionContext,
): Pick<Step, 'state' | 'refreshAuth'> {
  const { options, now } = ctx;
  const base: SyncMachineState = {
    ...s,
    cycle: null,
    pending: restorePending(s.pending, cycle.kind),
    lastFailure: { ...failure, at: now },
    inSyncSince: null,
    periodicFrom: now,
    authRefreshUsed: TOKEN_ACCEPTED.has(failure.class) ? false : s.authRefreshUsed,
  };
  switch (failure.class) {
    case 'auth':
      if (!s.authRefreshUsed) {
        return {
          state: { ...base, name: 'blocked-auth', auth: 'refreshing', authRefreshUsed: true },
          refreshAuth: true,
        };
      }
      return {
        state: {
          ...base,
          name: 'blocked-auth',
          auth: 'failed',
          pending: { ...base.pending, urgent: false },
        },
      };

    case 'conflict': {
      const conflictCycles = s.conflictCycles + 1;
      if (conflictCycles > options.maxConflictCycles) {
        const pending = { ...base.pending, urgent: false };
        return { state: { ...base, name: 'blocked-conflict', conflictCycles, pending } };
      }
      return {
        state: settleIdle(
          { ...base, name: 'idle', conflictCycles, pending: { ...base.pending, urgent: true } },
          ctx,
        ),
      };
    }

    default: {
      const consecutiveFailures = s.consecutiveFailures + 1;
      const counted: SyncMachineState = {
        ...base,
        consecutiveFailures,
        pending: failure.class === 'history' ? { ...base.pending, hydrate: true } : base.pending,
      };
      if (s.circuit === 'half-open' || consecutiveFailures >= options.circuitThreshold) {
        const paused: SyncMachineState = {
          ...counted,
          name: 'paused',
          circuit: 'open',
          evidenceInTrial: false,
          nextRetryAt: now + options.circuitCoolDownMs,
        };
        // A sync-now that arrived during the failed cycle still gets its own attempt; evidence
        // that came during a failed trial brings the next one forward to the gate.
        if (s.pending.urgent) return { state: onSyncNow(paused, ctx) };
        return { state: s.evidenceInTrial ? onEvidence(paused, ctx) : paused };
      }
      if (s.pending.urgent || (RETRY_AT_ONCE.has(failure.class) && s.consecutiveFailures === 0)) {
        return {
          state: settleIdle(
            { ...counted, name: 'idle', pending: { ...counted.pending, urgent: true } },
            ctx,
          ),
        };
      }
      const delay = backoffDelay(
        {
          attempt: consecutiveFailures - 1,
          failureClass: failure.class,
          retryAfterMs: failure.retryAfterMs,
        },
        options.backoff,
        ctx.random,
      );
      return {
        state: {
          ...counted,
          name: 'backoff',
          nextRetryAt: Math.max(now + delay, throttleFloor(s, options)),
        },
      };
    }
  }
}

function goOffline(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  // A half-open trial cut short proved nothing: the circuit is open again, or a signal that
  // flaps offline/online would start trial after trial without the gate.
  const reopened: SyncMachineState =
    s.circuit === 'half-open' && s.cycle !== null && s.lastFailure !== null
      ? { ...s, circuit: 'open', nextRetryAt: coolDownEndOf(s, ctx.options) }
      : s;
  return {
    ...reopened,
    name: 'offline',
    online: false,
    evidenceInTrial: false,
    inSyncSince: null,
    cycle: null,
    wake: null,
    pending: {
      ...(s.cycle === null ? s.pending : restorePending(s.pending, s.cycle.kind)),
      urgent: false,
    },
    nextRetryAt: reopened.circuit === 'open' ? reopened.nextRetryAt : null,
  };
}

function resume(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  const online: SyncMachineState = { ...s, online: true };
  if (online.circuit === 'open') {
    const paused: SyncMachineState = { ...online, name: 'paused' };
    if (paused.nextRetryAt === null || ctx.now >= paused.nextRetryAt) return dueTrial(paused, ctx);
    return onEvidence(paused, ctx);
  }
  if (online.auth !== 'ok') return { ...online, name: 'blocked-auth' };
  return settleIdle({ ...online, name: 'idle', pending: fullNow(online.pending) }, ctx);
}

/**
 * Evidence that the server is reachable again (the events stream connected, a poke, the online
 * signal) while the circuit is open: the half-open trial runs at once when the gate has passed,
 * otherwise at the gate (the cool-down is cut short, never extended). Pure rate limit: however
 * often evidence comes, trials are at least the gate apart, so a proxy that accepts the events
 * stream and fails every request cannot defeat the breaker.
 */
/** A half-open trial is running. */
function inTrial(s: SyncMachineState): boolean {
  return s.circuit === 'half-open' && s.cycle !== null;
}

function onEvidence(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  if (s.name !== 'paused' || s.nextRetryAt === null) return s;
  const gate = trialGateOf(s, ctx.options);
  if (gate <= ctx.now) return halfOpenTrial({ ...s, evidenceTrials: s.evidenceTrials + 1 }, ctx);
  return gate < s.nextRetryAt ? { ...s, nextRetryAt: gate } : s;
}

/**
 * The paused machine's trial time came: a trial that evidence brought forward counts as one of
 * evidence; a cool-down that ran out quietly forgives the earlier ones (the gate starts over).
 */
function dueTrial(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  const quiet = s.nextRetryAt === null || s.nextRetryAt >= coolDownEndOf(s, ctx.options);
  return halfOpenTrial({ ...s, evidenceTrials: quiet ? 0 : s.evidenceTrials + 1 }, ctx);
}

/**
 * The earliest time evidence may start a half-open trial: the failure streak's backoff goes on
 * from where the closed circuit left it (attempt `threshold - 1`), one doubling per trial that
 * evidence started, from the last failure; at least its Retry-After.
 */
function trialGateOf(s: SyncMachineState, options: SyncScheduleOptions): number {
  const failure = s.lastFailure;
  if (failure === null) return Number.NEGATIVE_INFINITY;
  return (
    failure.at +
    backoffBound(
      {
        attempt: options.circuitThreshold - 1 + s.evidenceTrials,
        failureClass: failure.class,
        retryAfterMs: failure.retryAfterMs,
      },
      options.backoff,
    )
  );
}

/** When the open circuit's cool-down ends: `circuitCoolDownMs` after the last failure. */
function coolDownEndOf(s: SyncMachineState, options: SyncScheduleOptions): number {
  return s.lastFailure === null
    ? Number.NEGATIVE_INFINITY
    : s.lastFailure.at + options.circuitCoolDownMs;
}

function halfOpenTrial(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  return settleIdle(
    {
      ...s,
      name: 'idle',
      circuit: 'half-open',
      nextRetryAt: null,
      pending: fullNow(s.pending),
    },
    ctx,
  );
}

/** From idle or blocked-conflict, new work makes the machine plan; elsewhere it just waits. */
function wakeFromIdleOrConflict(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  if (s.name === 'idle' || s.name === 'blocked-conflict')
    return settleIdle({ ...s, name: 'idle' }, ctx);
  return s;
}

/**
 * The planner of `idle`: start the wanted work now, or set the wake timer for when it may
 * start. Debounce: a write waits `debounceMs` after the last write, at most `maxWaitMs` after
 * the first. Throttle: automatic cycles start at least `minIntervalMs` apart. Urgent work
 * ignores both.
 */
function settleIdle(input: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  const { now, options } = ctx;
  let s = input;
  if (periodicAt(s, options) <= now) s = periodicWork(s, ctx);
  if (!wantsWork(s)) return s.wake === null ? s : { ...s, wake: null };
  if (s.pending.urgent) return startCycle(s, ctx);

  const throttleAt = throttleFloor(s, options);
  const writesOnly =
    !s.pending.pull &&
    !s.pending.hydrate &&
    s.pokeSeq <= s.coveredSeq &&
    s.firstWriteAt !== null &&
    s.lastWriteAt !== null;
  let wake: { timer: 'debounce' | 'throttle'; at: number };
  if (writesOnly) {
    const writeDue = Math.min(
      (s.lastWriteAt ?? now) + options.debounceMs,
      (s.firstWriteAt ?? now) + options.maxWaitMs,
    );
    wake =
      writeDue >= throttleAt
        ? { timer: 'debounce', at: writeDue }
        : { timer: 'throttle', at: throttleAt };
  } else {
    wake = { timer: 'throttle', at: Math.max(now, throttleAt) };
  }
  if (wake.at <= now) return startCycle(s, ctx);
  if (s.wake?.timer === wake.timer && s.wake.at === wake.at) return s;
  return { ...s, wake };
}

/** The periodic safety net fired: push what is pending and pull; restart its interval. */
function periodicWork(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  return { ...s, periodicFrom: ctx.now, pending: { ...s.pending, push: true, pull: true } };
}

function startCycle(s: SyncMachineState, ctx: TransitionContext): SyncMachineState {
  const kind = kindOf(s);
  const { push, pull } = covers(kind);
  return {
    ...s,
    name: push ? 'pushing' : 'pulling',
    cycle: { id: s.nextCycleId, kind, startedAt: ctx.now },
    nextCycleId: s.nextCycleId + 1,
    lastCycleStartedAt: ctx.now,
    wake: null,
    nextRetryAt: null,
    pending: {
      push: push ? false : s.pending.push,
      pull: pull ? false : s.pending.pull,
      hydrate: kind === 'hydrate' ? false : s.pending.hydrate,
      urgent: false,
    },
    firstWriteAt: push ? null : s.firstWriteAt,
    lastWriteAt: push ? null : s.lastWriteAt,
    coveredSeq: pull ? Math.max(s.coveredSeq, s.pokeSeq) : s.coveredSeq,
  };
}

/** Adds "push and pull, now" to pending work, keeping a pending hydrate. */
function fullNow(pending: PendingWork): PendingWork {
  return { ...pending, push: true, pull: true, urgent: true };
}

function kindOf(s: SyncMachineState): CycleKind {
  if (s.pending.hydrate) return 'hydrate';
  const push = s.pending.push;
  const pull = s.pending.pull || s.pokeSeq > s.coveredSeq;
  if (push && !pull) return 'push';
  if (pull && !push) return 'pull';
  return 'full';
}

function covers(kind: CycleKind): { push: boolean; pull: boolean } {
  return { push: kind === 'push' || kind === 'full', pull: kind !== 'push' };
}

/** A cycle that did not finish leaves its work pending again. */
function restorePending(pending: PendingWork, kind: CycleKind): PendingWork {
  const { push, pull } = covers(kind);
  return {
    push: pending.push || push,
    pull: pending.pull || pull,
    hydrate: pending.hydrate || kind === 'hydrate',
    urgent: pending.urgent,
  };
}

function periodicAt(s: SyncMachineState, options: SyncScheduleOptions): number {
  return (
    s.periodicFrom + (s.foreground ? options.foregroundIntervalMs : options.backgroundIntervalMs)
  );
}

function throttleFloor(s: SyncMachineState, options: SyncScheduleOptions): number {
  return s.lastCycleStartedAt === null
    ? Number.NEGATIVE_INFINITY
    : s.lastCycleStartedAt + options.minIntervalMs;
}

function effectsBetween(
  prev: SyncMachineState | null,
  next: SyncMachineState,
  options: SyncScheduleOptions,
  step: Omit<Step, 'state'>,
): SyncEffect[] {
  const effects: SyncEffect[] = [];
  const prevCycle = prev?.cycle ?? null;
  if (
    prevCycle !== null &&
    next.cycle?.id !== prevCycle.id &&
    step.completedCycleId !== prevCycle.id
  ) {
    effects.push({ type: 'abort-cycle', cycleId: prevCycle.id });
  }

  const before = prev === null ? new Map<TimerName, number>() : timersOf(prev, options);
  if (step.fired !== undefined) before.delete(step.fired);
  const after = timersOf(next, options);
  for (const name of TIMER_NAMES) {
    if (before.has(name) && !after.has(name)) effects.push({ type: 'cancel-timer', name });
  }
  for (const name of TIMER_NAMES) {
    const at = after.get(name);
    if (at !== undefined && before.get(name) !== at) effects.push({ type: 'set-timer', name, at });
  }

  if (next.cycle !== null && next.cycle.id !== prevCycle?.id) {
    effects.push({ type: 'start-cycle', cycleId: next.cycle.id, kind: next.cycle.kind });
  }

  const wasSubscribed = prev !== null && isSubscribed(prev);
  const subscribed = isSubscribed(next);
  if (wasSubscribed && !subscribed) effects.push({ type: 'unsubscribe-events' });
  if (!wasSubscribed && subscribed) effects.push({ type: 'subscribe-events' });
  if (wasSubscribed && subscribed && step.resubscribe === true)
    effects.push({ type: 'resubscribe-events' });

  if (step.refreshAuth === true) effects.push({ type: 'refresh-auth' });
  if (prev === null || !sameState(prev, next)) effects.push({ type: 'emit-status' });
  return effects;
}

function sameState(a: SyncMachineState, b: SyncMachineState): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}

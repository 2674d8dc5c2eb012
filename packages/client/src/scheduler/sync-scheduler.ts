/**
 * The thin shell around the sync state machine: it holds the state, feeds it events, and
 * carries out its effects with the injected clock and the engine's callbacks. Every decision is
 * in `sync-state-machine.ts`; this file only does I/O.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import { classifyFailure, type Failure } from './classify-failure.js';
import { createSystemClock, type Clock, type TimerId } from './clock.js';
import type { LogEntry, LogLevel } from './log-entry.js';
import {
  resolveSyncSchedule,
  type SyncScheduleOptions,
  type SyncScheduleOverrides,
} from './sync-schedule.js';
import {
  startSyncMachine,
  transition,
  type CycleKind,
  type CycleOutcome,
  type SyncEffect,
  type SyncEvent,
  type SyncMachineState,
  type TimerName,
  type Transition,
  type TransitionContext,
} from './sync-state-machine.js';
import {
  emptySyncMetrics,
  syncStatusOf,
  type SyncMetricName,
  type SyncMetrics,
  type SyncStatus,
} from './sync-status.js';

/** Handed to {@link RunCycle} with each cycle. */
export interface CycleContext {
  readonly cycleId: number;
  /**
   * Call when the push half of a `full` cycle has succeeded and the pull begins, so the status
   * says `pulling` and records the successful push. Ignored for other kinds.
   */
  reportPhase(phase: 'pull'): void;
}

/**
 * Runs one sync cycle of `kind`. Resolves with what the machine should know (or nothing) when
 * the cycle succeeded; throws a `FerryError` as described in `classifyFailure` when it failed.
 * Must stop promptly, leaving the outbox intact, when `signal` aborts.
 */
export type RunCycle = (
  kind: CycleKind,
  signal: AbortSignal,
  cycle: CycleContext,
) => Promise<CycleOutcome | undefined | void>;

/**
 * The events subscription as the scheduler drives it. `createEventsSubscription` (realtime/)
 * satisfies this; start/stop must not throw and must be idempotent.
 */
export interface EventsControl {
  /** Open the subscription (and keep it open, reconnecting as needed). */
  start(): void;
  /** Close it. */
  stop(): void;
  /** Drop the current connection and connect again at once with a fresh token. */
  reconnect(): void;
}

/** Options of {@link createSyncScheduler}. */
export interface SyncSchedulerOptions {
  /** Runs a cycle: the engine's push / pull / sync / hydrate. */
  readonly runCycle: RunCycle;
  /**
   * Refreshes the token (wraps the app's `getToken({ forceRefresh: true })`): true when it
   * yielded a new token. Without it, a 401 leaves the scheduler blocked until the app calls
   * {@link SyncScheduler.authRefreshed} or {@link SyncScheduler.syncNow}.
   */
  readonly refreshAuth?: (signal: AbortSignal) => Promise<boolean>;
  /** The events subscription to open while online and in the foreground. */
  readonly events?: EventsControl;
  /** Debounce, throttle, periodic, backoff and circuit settings. */
  readonly schedule?: SyncScheduleOverrides;
  /** Default: the system clock. */
  readonly clock?: Clock;
  /** Backoff jitter source, numbers in [0, 1). Default `Math.random`. */
  readonly random?: () => number;
  /** Default {@link classifyFailure}. */
  readonly classify?: (error: unknown) => Failure;
  /** Initial connectivity. Default true. */
  readonly online?: boolean;
  /** Initial visibility. Default true. */
  readonly foreground?: boolean;
  /** Run a full cycle on start. Default true. */
  readonly syncOnStart?: boolean;
  /** Called with every new status. */
  readonly onStatus?: (status: SyncStatus) => void;
  /**
   * Called with every error of background work: a failed cycle (with its classification), a
   * failed token refresh, a throwing callback (failure null). Never throws into the void.
   */
  readonly onError?: (error: unknown, failure: Failure | null) => void;
  /** Structured log events. */
  readonly onLog?: (entry: LogEntry) => void;
}

/** What {@link SyncScheduler.syncNow} resolves with. */
export interface SyncNowResult {
  /** True when the cycle run for this request succeeded. */
  readonly ok: boolean;
  /** The status when the request was settled (state, lastError …). */
  readonly status: SyncStatus;
}

/** A running scheduler. */
export interface SyncScheduler extends AsyncDisposable {
  /** The current status. */
  readonly status: SyncStatus;
  /** The effective schedule options. */
  readonly options: SyncScheduleOptions;
  /** Calls `listener` with every new status; returns the unsubscribe function. */
  subscribe(listener: (status: SyncStatus) => void): () => void;
  /** Starts the machine (the first cycle, timers, events). Events before it are queued. */
  start(): void;
  /** A local write happened (schedules a debounced push). */
  notifyWrite(): void;
  /** The server announced a bundle (a pull follows unless the client already has it). */
  poke(bundleSeq?: number | null): void;
  /** Connectivity changed. Offline pauses everything; online syncs at once. */
  setOnline(online: boolean): void;
  /** The app moved to the foreground (true) or background (false). */
  setForeground(foreground: boolean): void;
  /** The events subscription connected or disconnected. */
  setRealtimeConnected(connected: boolean): void;
  /** The app has a new token (true), or a refresh it ran gave none (false). */
  authRefreshed(newToken: boolean): void;
  /**
   * Syncs as soon as possible, bypassing debounce, throttle, backoff and an open circuit.
   * Resolves (never rejects) when the cycle run for this request finished, or when none can
   * run (offline, blocked on auth, closed).
   */
  syncNow(): Promise<SyncNowResult>;
  /** A copy of the metrics counters. */
  metrics(): SyncMetrics;
  /** Adds to a counter (the engine's rows, bytes, conflicts, dead letters). */
  addMetric(name: SyncMetricName, by?: number): void;
  /** Stops: aborts the cycle in flight and waits for it to settle; later calls do nothing. */
  close(): Promise<void>;
}

/**
 * Creates the scheduler shell. Call `start()` to begin.
 *
 * @example
 * const scheduler = createSyncScheduler({
 *   runCycle: (kind, signal) => engine.runCycle(kind, signal),
 *   refreshAuth: async () => (await getToken({ forceRefresh: true })) !== oldToken,
 *   onStatus: (status) => render(status),
 * });
 * scheduler.start();
 * db.onWrite(() => scheduler.notifyWrite());
 * await scheduler.close();
 */
export function createSyncScheduler(options: SyncSchedulerOptions): SyncScheduler {
  return new SyncSchedulerShell(options);
}

type Waiter = (result: SyncNowResult) => void;

interface RunningCycle {
  readonly controller: AbortController;
  done: Promise<void>;
}

class SyncSchedulerShell implements SyncScheduler {
  readonly options: SyncScheduleOptions;
  readonly #config: SyncSchedulerOptions;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #classify: (error: unknown) => Failure;
  readonly #listeners = new Set<(status: SyncStatus) => void>();
  readonly #timers = new Map<TimerName, TimerId>();
  readonly #cycles = new Map<number, RunningCycle>();
  readonly #queue: SyncEvent[] = [];
  /** syncNow requests not yet tied to a cycle. */
  #waiting: Waiter[] = [];
  /** syncNow requests tied to the cycle run for them. */
  readonly #waitingOnCycle = new Map<number, Waiter[]>();
  readonly #lifetime = new AbortController();
  readonly #metrics = emptySyncMetrics();
  #state: SyncMachineState | null = null;
  #status: SyncStatus | null = null;
  #draining = false;
  #closing: Promise<void> | null = null;

  constructor(config: SyncSchedulerOptions) {
    this.#config = config;
    this.options = resolveSyncSchedule(config.schedule);
    this.#clock = config.clock ?? createSystemClock();
    this.#random = config.random ?? Math.random;
    this.#classify = config.classify ?? classifyFailure;
  }

  get status(): SyncStatus {
    if (this.#status !== null) return this.#status;
    // Before start(): what the machine would start from.
    return syncStatusOf(this.#initial().state);
  }

  subscribe(listener: (status: SyncStatus) => void): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  start(): void {
    if (this.#state !== null || this.#closing !== null) return;
    const { state, effects } = this.#initial();
    this.#state = state;
    this.#log('info', 'scheduler-started', `scheduler started in ${state.name}`, {
      state: state.name,
    });
    // Effects may raise events synchronously (a runCycle that throws at once): they queue
    // behind this transition instead of interleaving with its remaining effects.
    this.#draining = true;
    try {
      this.#execute(effects, state);
    } finally {
      this.#draining = false;
    }
    this.#drain();
  }

  notifyWrite(): void {
    this.#dispatch({ type: 'local-write' });
  }

  poke(bundleSeq: number | null = null): void {
    this.#metrics.pokes++;
    this.#dispatch({ type: 'poke', bundleSeq });
  }

  setOnline(online: boolean): void {
    this.#dispatch({ type: online ? 'online' : 'offline' });
  }

  setForeground(foreground: boolean): void {
    this.#dispatch({ type: foreground ? 'foreground' : 'background' });
  }

  setRealtimeConnected(connected: boolean): void {
    this.#dispatch({ type: 'realtime', connected });
  }

  authRefreshed(newToken: boolean): void {
    this.#dispatch({ type: 'auth-refreshed', newToken });
  }

  syncNow(): Promise<SyncNowResult> {
    if (this.#closing !== null) return Promise.resolve({ ok: false, status: this.status });
    return new Promise<SyncNowResult>((resolve) => {
      this.#waiting.push(resolve);
      this.#dispatch({ type: 'sync-now' });
    });
  }

  metrics(): SyncMetrics {
    return { ...this.#metrics };
  }

  addMetric(name: SyncMetricName, by = 1): void {
    if (!Number.isFinite(by)) {
      throw new FerryError('invalid_argument', `metric increment must be finite, got ${by}`);
    }
    this.#metrics[name] += by;
  }

  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  async #close(): Promise<void> {
    if (this.#state === null) {
      // Never started: nothing ran, so only the status changes.
      const closed = transition(this.#initial().state, { type: 'close' }, this.#context()).state;
      this.#state = closed;
      this.#emitStatus(syncStatusOf(closed));
    } else {
      // Events queued behind the close are dropped; when close() is called from inside a
      // callback of the drain loop, that loop applies the close next.
      this.#queue.length = 0;
      this.#queue.push({ type: 'close' });
      this.#drain();
    }
    this.#lifetime.abort(new FerryError('closed', 'the sync scheduler was closed'));
    this.#settleAllWaiters(false);
    await Promise.allSettled([...this.#cycles.values()].map((cycle) => cycle.done));
    this.#log('info', 'scheduler-closed', 'scheduler closed', {});
  }

  #initial(): Transition {
    return startSyncMachine(
      {
        online: this.#config.online ?? true,
        foreground: this.#config.foreground ?? true,
        syncOnStart: this.#config.syncOnStart ?? true,
      },
      this.#context(),
    );
  }

  #context(): TransitionContext {
    return { now: this.#clock.now(), options: this.options, random: this.#random };
  }

  #dispatch(event: SyncEvent): void {
    if (this.#closing !== null) return;
    this.#queue.push(event);
    this.#drain();
  }

  /** Applies queued events one at a time; events raised by effects wait their turn. */
  #drain(): void {
    if (this.#draining || this.#state === null) return;
    this.#draining = true;
    try {
      for (let event = this.#queue.shift(); event !== undefined; event = this.#queue.shift()) {
        this.#apply(event);
      }
    } finally {
      this.#draining = false;
    }
  }

  #apply(event: SyncEvent): void {
    const prev = this.#state;
    if (prev === null) return;
    let result: Transition;
    try {
      result = transition(prev, event, this.#context());
    } catch (error) {
      // A bug in the machine or bad options: report it and keep the previous state.
      this.#reportError(error, null);
      return;
    }
    const next = result.state;
    this.#state = next;
    if (next.name !== prev.name) {
      this.#log(
        next.name === 'paused' || next.name.startsWith('blocked') ? 'warn' : 'debug',
        'state-changed',
        `${prev.name} -> ${next.name} on ${event.type}`,
        { from: prev.name, to: next.name, event: event.type },
      );
    }
    if (next.circuit === 'open' && prev.circuit !== 'open') {
      this.#metrics.circuitOpens++;
      this.#log('warn', 'circuit-opened', 'too many failed cycles: automatic sync paused', {
        consecutiveFailures: next.consecutiveFailures,
        nextRetryAt: next.nextRetryAt,
      });
    }
    if (event.type === 'cycle-succeeded' && prev.cycle?.id === event.cycleId) {
      this.#metrics.cyclesSucceeded++;
      this.#settleCycleWaiters(event.cycleId, null, true);
    }
    if (event.type === 'cycle-failed' && prev.cycle?.id === event.cycleId) {
      this.#metrics.cyclesFailed++;
      // An immediate retry (conflict, bundle …) still answers the same syncNow request.
      this.#settleCycleWaiters(event.cycleId, next.cycle?.id ?? null, false);
    }
    this.#execute(result.effects, next);
    if (this.#waiting.length > 0 && next.cycle === null && !next.pending.urgent) {
      // Nothing will run for these requests (offline, blocked on auth, closed).
      this.#settleWaiters(this.#waiting, false);
      this.#waiting = [];
    }
  }

  #execute(effects: readonly SyncEffect[], state: SyncMachineState): void {
    for (const effect of effects) {
      try {
        this.#executeOne(effect, state);
      } catch (error) {
        this.#reportError(error, null);
      }
    }
  }

  #executeOne(effect: SyncEffect, state: SyncMachineState): void {
    switch (effect.type) {
      case 'abort-cycle': {
        const cycle = this.#cycles.get(effect.cycleId);
        this.#metrics.cyclesAborted++;
        cycle?.controller.abort(
          new FerryError('aborted', `sync cycle ${effect.cycleId} aborted (${state.name})`),
        );
        this.#settleCycleWaiters(effect.cycleId, null, false);
        return;
      }
      case 'cancel-timer': {
        const id = this.#timers.get(effect.name);
        if (id !== undefined) this.#clock.clearTimer(id);
        this.#timers.delete(effect.name);
        return;
      }
      case 'set-timer': {
        const old = this.#timers.get(effect.name);
        if (old !== undefined) this.#clock.clearTimer(old);
        const name = effect.name;
        const id = this.#clock.setTimer({ at: effect.at }, () => {
          if (this.#timers.get(name) !== id) return;
          this.#timers.delete(name);
          this.#dispatch(
            name === 'cool-down' ? { type: 'cool-down-over' } : { type: 'timer', name },
          );
        });
        this.#timers.set(name, id);
        return;
      }
      case 'start-cycle':
        this.#startCycle(effect.cycleId, effect.kind, state);
        return;
      case 'subscribe-events':
        this.#config.events?.start();
        return;
      case 'unsubscribe-events':
        this.#config.events?.stop();
        return;
      case 'resubscribe-events':
        this.#config.events?.reconnect();
        return;
      case 'refresh-auth':
        this.#refreshAuth();
        return;
      case 'emit-status':
        this.#emitStatus(syncStatusOf(state));
        return;
    }
  }

  #startCycle(cycleId: number, kind: CycleKind, state: SyncMachineState): void {
    const metrics = this.#metrics;
    metrics.cycles++;
    if (kind === 'push' || kind === 'full') metrics.pushes++;
    if (kind === 'pull' || kind === 'full') metrics.pulls++;
    if (kind === 'hydrate') metrics.hydrations++;
    if (state.lastFailure !== null) metrics.retries++;
    if (this.#waiting.length > 0) {
      this.#waitingOnCycle.set(cycleId, this.#waiting);
      this.#waiting = [];
    }
    this.#log('debug', 'cycle-started', `cycle ${cycleId} (${kind}) started`, { cycleId, kind });

    const controller = new AbortController();
    const context: CycleContext = {
      cycleId,
      reportPhase: (phase) => this.#dispatch({ type: 'cycle-progress', cycleId, phase }),
    };
    const run = async (): Promise<void> => {
      try {
        const outcome = await this.#config.runCycle(kind, controller.signal, context);
        if (controller.signal.aborted) return;
        this.#log('debug', 'cycle-succeeded', `cycle ${cycleId} (${kind}) succeeded`, {
          cycleId,
          kind,
        });
        this.#dispatch({ type: 'cycle-succeeded', cycleId, outcome: outcome ?? {} });
      } catch (error) {
        if (controller.signal.aborted) {
          this.#log('debug', 'cycle-aborted', `cycle ${cycleId} (${kind}) aborted`, {
            cycleId,
            kind,
          });
          return;
        }
        const failure = this.#safeClassify(error);
        this.#log('warn', 'cycle-failed', `cycle ${cycleId} (${kind}) failed: ${failure.message}`, {
          cycleId,
          kind,
          failureClass: failure.class,
          code: failure.code,
          status: failure.status,
          correlationId: failure.correlationId,
        });
        this.#reportError(error, failure);
        this.#dispatch({ type: 'cycle-failed', cycleId, failure });
      } finally {
        this.#cycles.delete(cycleId);
      }
    };
    const running: RunningCycle = { controller, done: Promise.resolve() };
    this.#cycles.set(cycleId, running);
    running.done = run();
  }

  #refreshAuth(): void {
    this.#metrics.authRefreshes++;
    const refresh = this.#config.refreshAuth;
    this.#log('info', 'auth-refresh', 'unauthorized: refreshing the token', {});
    if (refresh === undefined) {
      this.#dispatch({ type: 'auth-refreshed', newToken: false });
      return;
    }
    const signal = this.#lifetime.signal;
    (async () => refresh(signal))().then(
      (newToken) => {
        this.#log('info', 'auth-refreshed', newToken ? 'token refreshed' : 'no new token', {
          newToken: newToken === true,
        });
        this.#dispatch({ type: 'auth-refreshed', newToken: newToken === true });
      },
      (error: unknown) => {
        this.#reportError(error, null);
        this.#dispatch({ type: 'auth-refreshed', newToken: false });
      },
    );
  }

  #safeClassify(error: unknown): Failure {
    try {
      return this.#classify(error);
    } catch (classifyError) {
      this.#reportError(classifyError, null);
      return classifyFailure(error);
    }
  }

  #emitStatus(status: SyncStatus): void {
    this.#status = status;
    const listeners = [this.#config.onStatus, ...this.#listeners];
    for (const listener of listeners) {
      if (listener === undefined) continue;
      try {
        listener(status);
      } catch (error) {
        this.#reportError(error, null);
      }
    }
  }

  #settleCycleWaiters(cycleId: number, retryCycleId: number | null, ok: boolean): void {
    const waiters = this.#waitingOnCycle.get(cycleId);
    if (waiters === undefined) return;
    this.#waitingOnCycle.delete(cycleId);
    if (retryCycleId !== null) {
      this.#waitingOnCycle.set(retryCycleId, [
        ...(this.#waitingOnCycle.get(retryCycleId) ?? []),
        ...waiters,
      ]);
      return;
    }
    this.#settleWaiters(waiters, ok);
  }

  #settleAllWaiters(ok: boolean): void {
    const all = [...this.#waiting, ...[...this.#waitingOnCycle.values()].flat()];
    this.#waiting = [];
    this.#waitingOnCycle.clear();
    this.#settleWaiters(all, ok);
  }

  #settleWaiters(waiters: readonly Waiter[], ok: boolean): void {
    if (waiters.length === 0) return;
    const status = this.#state === null ? this.status : syncStatusOf(this.#state);
    for (const waiter of waiters) waiter({ ok, status });
  }

  #reportError(error: unknown, failure: Failure | null): void {
    const onError = this.#config.onError;
    if (onError === undefined) return;
    try {
      onError(error, failure);
    } catch {
      // The error hook itself failed; there is nowhere left to report to.
    }
  }

  #log(level: LogLevel, event: string, message: string, fields: LogEntry['fields']): void {
    const onLog = this.#config.onLog;
    if (onLog === undefined) return;
    try {
      onLog({ level, event, message, fields });
    } catch (error) {
      this.#reportError(error, null);
    }
  }
}

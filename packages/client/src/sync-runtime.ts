/**
 * The client's background sync: the scheduler, the events subscription and the connectivity
 * probe, wired together. The engine hands in how to run a cycle and refresh the token; this
 * shell owns when. Every decision stays in the scheduler's pure state machine.
 *
 * @module
 */
import { FerryError, isFerryError } from '@ferry/protocol';
import {
  createEventsSubscription,
  type EventsSubscription,
  type EventsSubscriptionOptions,
} from './realtime/events-subscription.js';
import type { Failure } from './scheduler/classify-failure.js';
import type { Clock, TimerId } from './scheduler/clock.js';
import type { LogEntry } from './scheduler/log-entry.js';
import type { SyncScheduleOverrides } from './scheduler/sync-schedule.js';
import {
  createSyncScheduler,
  type RunCycle,
  type SyncNowResult as SchedulerSyncNowResult,
  type SyncScheduler,
} from './scheduler/sync-scheduler.js';
import type { SyncMetrics, SyncStatus } from './scheduler/sync-status.js';

/** Default of `onlineProbeIntervalMs`. */
export const DEFAULT_ONLINE_PROBE_INTERVAL_MS = 5_000;

/** The events subscription's options that the client decides (the rest is wired here). */
export type RuntimeEventsOptions = Pick<
  EventsSubscriptionOptions,
  'url' | 'getToken' | 'tokenIn' | 'fetch' | 'heartbeatTimeoutMs' | 'backoff' | 'schemaVersion'
>;

/** Options of {@link SyncRuntime}. */
export interface SyncRuntimeOptions {
  readonly runCycle: RunCycle;
  readonly refreshAuth: (signal: AbortSignal) => Promise<boolean>;
  readonly schedule: SyncScheduleOverrides;
  readonly clock: Clock;
  readonly random: () => number;
  /** The events stream, or null for none. */
  readonly events: RuntimeEventsOptions | null;
  /** Initial connectivity, or a probe. */
  readonly online: boolean | (() => boolean | Promise<boolean>);
  readonly onlineProbeIntervalMs: number;
  readonly foreground: boolean;
  readonly onStatus: (status: SyncStatus) => void;
  /** Errors of background work that no cycle reported (refresh, probe, callbacks). */
  readonly onError: (error: FerryError) => void;
  readonly onLog: ((entry: LogEntry) => void) | undefined;
}

/**
 * The scheduler plus what feeds it: pokes and connection changes of the events stream, the
 * connectivity probe. Created stopped; `start()` runs the first cycle.
 */
export class SyncRuntime {
  readonly scheduler: SyncScheduler;
  readonly #events: EventsSubscription | null;
  readonly #options: SyncRuntimeOptions;
  readonly #probe: (() => boolean | Promise<boolean>) | null;
  #probeTimer: TimerId | null = null;
  #probing = false;
  #closed = false;
  #lastWriteAt: number | null = null;
  /** The probe's first answer when it is a promise (applied by `start()`). */
  readonly #firstProbe: Promise<boolean> | null = null;

  constructor(options: SyncRuntimeOptions) {
    this.#options = options;
    const probe = typeof options.online === 'function' ? options.online : null;
    this.#probe = probe;
    // Ask the probe before the first cycle, so that an offline start does not begin with a
    // cycle that is bound to fail.
    let online = typeof options.online === 'boolean' ? options.online : true;
    if (probe) {
      try {
        const answer = probe();
        if (typeof answer === 'boolean') online = answer;
        else this.#firstProbe = Promise.resolve(answer).then((value) => value === true);
      } catch (error) {
        this.#probeFailed(error);
        online = false;
      }
    }
    let scheduler: SyncScheduler | null = null;
    this.#events =
      options.events === null
        ? null
        : createEventsSubscription({
            ...options.events,
            clock: options.clock,
            random: options.random,
            onPoke: (bundleSeq) => scheduler?.poke(bundleSeq),
            onConnectionChange: (connected) => scheduler?.setRealtimeConnected(connected),
            // Connection failures are logged by the subscription (`events-failed`) and shown
            // as `realtime: disconnected`; the periodic sync covers for them.
            onError: (error) =>
              this.#log('debug', 'events-error', messageOf(error), { code: codeOf(error) }),
            ...(options.onLog ? { onLog: options.onLog } : {}),
          });
    scheduler = createSyncScheduler({
      runCycle: options.runCycle,
      refreshAuth: options.refreshAuth,
      ...(this.#events ? { events: this.#events } : {}),
      schedule: options.schedule,
      clock: options.clock,
      random: options.random,
      online,
      foreground: options.foreground,
      onStatus: options.onStatus,
      onError: (error, failure) => this.#onSchedulerError(error, failure),
      ...(options.onLog ? { onLog: options.onLog } : {}),
    });
    this.scheduler = scheduler;
  }

  /** Starts the machine (the first cycle, timers, events) and asks the probe. */
  start(): void {
    this.scheduler.start();
    if (this.#firstProbe) {
      this.#probing = true;
      this.#firstProbe.then(
        (online) => this.#settleProbe(online),
        (error: unknown) => {
          this.#probeFailed(error);
          this.#settleProbe(false);
        },
      );
    } else if (!this.scheduler.status.online) this.#armProbe();
  }

  notifyWrite(): void {
    // A second write in the same millisecond of an open write window changes nothing in the
    // machine (same last-write time, push already pending): skip the transition, which keeps
    // a burst of small writes cheap.
    const now = this.#options.clock.now();
    if (now === this.#lastWriteAt && this.scheduler.status.writesPendingSince !== null) return;
    this.#lastWriteAt = now;
    this.scheduler.notifyWrite();
  }

  syncNow(): Promise<SchedulerSyncNowResult> {
    return this.scheduler.syncNow();
  }

  setOnline(online: boolean): void {
    this.scheduler.setOnline(online);
    if (!online) this.#armProbe();
  }

  setForeground(foreground: boolean): void {
    this.scheduler.setForeground(foreground);
  }

  metrics(): SyncMetrics {
    return this.scheduler.metrics();
  }

  /** Stops everything: aborts the cycle in flight and waits for it, closes the events stream. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probeTimer !== null) this.#options.clock.clearTimer(this.#probeTimer);
    this.#probeTimer = null;
    const scheduler = this.scheduler.close();
    await Promise.all([scheduler, this.#events?.close()]);
  }

  #onSchedulerError(error: unknown, failure: Failure | null): void {
    if (failure !== null) {
      // A failed cycle: the engine already reported it. A network failure may mean that the
      // device went offline: ask the probe.
      if (failure.class === 'transient' && this.#probe) this.#runProbe();
      return;
    }
    this.#options.onError(
      isFerryError(error)
        ? error
        : new FerryError('internal', `background sync work failed: ${messageOf(error)}`, {
            cause: error,
          }),
    );
  }

  /** Asks the probe once (never two at a time) and tells the scheduler what it said. */
  #runProbe(): void {
    const probe = this.#probe;
    if (probe === null || this.#probing || this.#closed) return;
    this.#probing = true;
    const settle = (online: boolean) => this.#settleProbe(online);
    let answer: boolean | Promise<boolean>;
    try {
      answer = probe();
    } catch (error) {
      this.#probeFailed(error);
      settle(false);
      return;
    }
    if (typeof answer === 'boolean') {
      settle(answer);
      return;
    }
    Promise.resolve(answer).then(
      (online) => settle(online === true),
      (error: unknown) => {
        this.#probeFailed(error);
        settle(false);
      },
    );
  }

  #settleProbe(online: boolean): void {
    this.#probing = false;
    if (this.#closed) return;
    if (online !== this.scheduler.status.online) {
      this.#log(
        'info',
        online ? 'probe-online' : 'probe-offline',
        `the probe says ${online ? 'online' : 'offline'}`,
        {},
      );
    }
    // Only a change is news: an unchanged "online" would count as evidence that the server is
    // back, and a probe runs after every network failure.
    if (online !== this.scheduler.status.online) this.scheduler.setOnline(online);
    if (!online) this.#armProbe();
  }

  #probeFailed(error: unknown): void {
    this.#options.onError(
      new FerryError('network', `the online probe failed: ${messageOf(error)}`, { cause: error }),
    );
  }

  /** While offline with a probe: ask it again after the interval. */
  #armProbe(): void {
    if (this.#probe === null || this.#closed || this.#probeTimer !== null) return;
    this.#probeTimer = this.#options.clock.setTimer(
      { delay: this.#options.onlineProbeIntervalMs },
      () => {
        this.#probeTimer = null;
        if (!this.scheduler.status.online) this.#runProbe();
      },
    );
  }

  #log(level: LogEntry['level'], event: string, message: string, fields: LogEntry['fields']) {
    try {
      this.#options.onLog?.({ level, event, message, fields });
    } catch {
      // A throwing log hook must not break sync.
    }
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function codeOf(error: unknown): string | null {
  return isFerryError(error) ? error.code : null;
}

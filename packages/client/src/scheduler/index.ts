/**
 * The sync scheduler: a pure state machine that decides when sync cycles run and how failures
 * are retried (debounce, throttle, periodic safety net, backoff with full jitter, circuit
 * breaker, connectivity, auth refresh), the pure helpers it is made of, and the thin shell that
 * runs it with an injected clock.
 *
 * @example
 * import { createSyncScheduler } from './scheduler/index.js';
 * const scheduler = createSyncScheduler({ runCycle: (kind, signal) => engine.run(kind, signal) });
 * scheduler.start();
 *
 * @module
 */
export {
  DEFAULT_BACKOFF,
  backoffBound,
  backoffCeiling,
  backoffDelay,
  resolveBackoffOptions,
} from './backoff.js';
export type { BackoffInput, BackoffOptions } from './backoff.js';

export { FAILURE_CLASSES, classifyFailure } from './classify-failure.js';
export type { Failure, FailureClass } from './classify-failure.js';

export { createManualClock, createSystemClock, sleep } from './clock.js';
export type { Clock, ManualClock, SystemClockOptions, TimerId, TimerWhen } from './clock.js';

export type { LogEntry, LogLevel } from './log-entry.js';

export { createSeededRandom } from './seeded-random.js';

export { DEFAULT_SYNC_SCHEDULE, resolveSyncSchedule } from './sync-schedule.js';
export type { SyncScheduleOptions, SyncScheduleOverrides } from './sync-schedule.js';

export {
  AUTH_STATES,
  CIRCUIT_STATES,
  CYCLE_KINDS,
  SYNC_EVENT_TYPES,
  SYNC_STATE_NAMES,
  TIMER_NAMES,
  isSubscribed,
  startSyncMachine,
  syncStateInvariantViolations,
  timersOf,
  transition,
  wantsWork,
} from './sync-state-machine.js';
export type {
  ActiveCycle,
  AuthState,
  CircuitState,
  CycleKind,
  CycleOutcome,
  FailureRecord,
  PendingWork,
  SyncEffect,
  SyncEvent,
  SyncEventType,
  SyncMachineInit,
  SyncMachineState,
  SyncStateName,
  TimerEventName,
  TimerName,
  Transition,
  TransitionContext,
} from './sync-state-machine.js';

export { SYNC_METRIC_NAMES, emptySyncMetrics, syncStatusOf } from './sync-status.js';
export type { SyncMetricName, SyncMetrics, SyncStatus } from './sync-status.js';

export { createSyncScheduler } from './sync-scheduler.js';
export type {
  CycleContext,
  EventsControl,
  RunCycle,
  SyncNowResult,
  SyncScheduler,
  SyncSchedulerOptions,
} from './sync-scheduler.js';

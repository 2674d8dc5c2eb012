/**
 * The observable status of the scheduler and its metrics counters, as plain values.
 *
 * @module
 */
import type {
  ActiveCycle,
  AuthState,
  CircuitState,
  FailureRecord,
  SyncMachineState,
  SyncStateName,
} from './sync-state-machine.js';

/**
 * What the scheduler shows the app. Times are the clock's milliseconds (epoch ms with the
 * system clock). The engine adds outbox facts (pending count, oldest pending age, in-flight
 * bundle) to this in the client's own status.
 */
export interface SyncStatus {
  /** The machine's state; `pushing` / `pulling` while a cycle runs. */
  readonly state: SyncStateName;
  readonly online: boolean;
  readonly foreground: boolean;
  /** Whether the events subscription (server pokes) is connected. */
  readonly realtime: 'connected' | 'disconnected';
  readonly circuit: CircuitState;
  /** Failed cycles in a row (those that count toward the circuit). */
  readonly consecutiveFailures: number;
  /** backoff: when the retry starts; paused: when the circuit's cool-down ends. */
  readonly nextRetryAt: number | null;
  /** `failed`: the token refresh gave no new token; sync waits for the app. */
  readonly auth: AuthState;
  /** The error of the current failure streak, with its class and correlation id. */
  readonly lastError: FailureRecord | null;
  /** The cycle in flight. */
  readonly cycle: ActiveCycle | null;
  readonly lastCycleStartedAt: number | null;
  readonly lastSuccessfulPushAt: number | null;
  readonly lastSuccessfulPullAt: number | null;
  /**
   * When the current run of successful cycles began; null before the first success, after a
   * failed cycle and while offline. Say "in sync" only when this is set.
   */
  readonly inSyncSince: number | null;
  /** First local write not yet sent, while it waits for the debounce. */
  readonly writesPendingSince: number | null;
}

/** Projects the machine's state to the {@link SyncStatus}. */
export function syncStatusOf(state: SyncMachineState): SyncStatus {
  return {
    state: state.name,
    online: state.online,
    foreground: state.foreground,
    realtime: state.realtimeConnected ? 'connected' : 'disconnected',
    circuit: state.circuit,
    consecutiveFailures: state.consecutiveFailures,
    nextRetryAt: state.nextRetryAt,
    auth: state.auth,
    lastError: state.lastFailure,
    cycle: state.cycle,
    lastCycleStartedAt: state.lastCycleStartedAt,
    lastSuccessfulPushAt: state.lastPushAt,
    lastSuccessfulPullAt: state.lastPullAt,
    inSyncSince: state.inSyncSince,
    writesPendingSince: state.firstWriteAt,
  };
}

/**
 * The metrics counters. The scheduler counts cycles, pushes, pulls, hydrations, retries,
 * pokes, auth refreshes and circuit openings; the engine adds rows, bytes, conflicts and dead
 * letters through `addMetric`.
 */
export const SYNC_METRIC_NAMES = [
  'cycles',
  'cyclesSucceeded',
  'cyclesFailed',
  'cyclesAborted',
  'pushes',
  'pulls',
  'hydrations',
  'retries',
  'pokes',
  'authRefreshes',
  'circuitOpens',
  'rowsPushed',
  'rowsPulled',
  'conflicts',
  'settledConflicts',
  'deadLetters',
  'sourceRotations',
  'bytesSent',
  'bytesReceived',
] as const;
/** One of {@link SYNC_METRIC_NAMES}. */
export type SyncMetricName = (typeof SYNC_METRIC_NAMES)[number];
/** All counters as a plain object, ready for OpenTelemetry or Prometheus exporters. */
export type SyncMetrics = Record<SyncMetricName, number>;

/** Every counter at zero. */
export function emptySyncMetrics(): SyncMetrics {
  return Object.fromEntries(SYNC_METRIC_NAMES.map((name) => [name, 0])) as SyncMetrics;
}

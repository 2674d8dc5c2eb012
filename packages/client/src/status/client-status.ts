/**
 * The client's one status: the engine's facts (outbox, checkpoint, conflicts, last error) merged
 * with the scheduler's (machine state, retries, circuit, realtime). Pure.
 *
 * @module
 */
import { classifyFailure } from '../scheduler/classify-failure.js';
import type { FailureRecord } from '../scheduler/sync-state-machine.js';
import type { SyncStatus } from '../scheduler/sync-status.js';
import type { FrozenBundle, FrozenBundleHead } from '../local/metadata.js';
import type { ClientState, ClientStatus, InFlightStatus } from '../types.js';

/** The engine's own activity, as it was before the scheduler (and still is without it). */
export type EngineState = 'idle' | 'syncing' | 'hydrating' | 'blocked-auth' | 'error' | 'closed';

/** The fields only the scheduler knows; the engine fills them itself when there is none. */
type SchedulerFields =
  | 'state'
  | 'autoSync'
  | 'realtime'
  | 'circuit'
  | 'nextRetryAt'
  | 'auth'
  | 'cycle'
  | 'writesPendingSince'
  | 'inSyncSince';

/** What the engine knows about itself. */
export interface EngineStatus extends Omit<ClientStatus, SchedulerFields> {
  readonly state: EngineState;
}

/** The engine's status of a client that has not done anything yet. */
export function initialEngineStatus(start: {
  readonly sourceId: string;
  readonly userId: string | null;
  readonly online: boolean;
  readonly foreground: boolean;
  readonly storage: string;
}): EngineStatus {
  return {
    state: 'idle',
    pending: 0,
    oldestPendingAt: null,
    oldestPendingAgeMs: null,
    inFlight: null,
    lastPushAt: null,
    lastPullAt: null,
    lastSyncAt: null,
    checkpoint: null,
    conflicts: 0,
    settledConflicts: 0,
    deadLetters: 0,
    lastError: null,
    integrity: null,
    sourceId: start.sourceId,
    userId: start.userId,
    online: start.online,
    foreground: start.foreground,
    storage: start.storage,
    consecutiveFailures: 0,
    lastFailure: null,
  };
}

/** `status.inFlight` of a frozen bundle (or of its head). */
export function inFlightStatusOf(bundle: FrozenBundle | FrozenBundleHead): InFlightStatus {
  return {
    sourceBundleId: bundle.sourceBundleId,
    changes: 'changes' in bundle ? bundle.changes.length : bundle.changeCount,
    frozenAt: bundle.frozenAt,
    attempts: bundle.attempts,
    committedSeq: bundle.committedSeq,
  };
}

/** The failure record of an engine error, for `lastFailure`. */
export function failureRecordOf(error: unknown, at: number): FailureRecord {
  return { ...classifyFailure(error), at };
}

/**
 * Merges the two. Without a scheduler (`sync` null) the engine's status stands alone, with
 * neutral scheduler fields. With one, `state` is the machine's, except that a snapshot being
 * loaded shows as `hydrating` and an explicit `sync()` in an idle machine as `syncing`; the
 * failure fields are the scheduler's (its current failure streak), falling back to the
 * engine's last error (an explicit `sync()` that failed). `inSyncSince` is the scheduler's, unless
 * the engine's last cycle failed.
 */
export function mergeClientStatus(
  engine: EngineStatus,
  sync: SyncStatus | null,
  realtime: boolean,
): ClientStatus {
  if (sync === null) {
    return {
      ...engine,
      autoSync: false,
      realtime: 'off',
      circuit: 'closed',
      nextRetryAt: null,
      auth: engine.state === 'blocked-auth' ? 'failed' : 'ok',
      cycle: null,
      writesPendingSince: null,
      inSyncSince: engine.lastFailure === null && engine.online ? engine.lastSyncAt : null,
    };
  }
  return {
    ...engine,
    state: mergedState(engine.state, sync),
    autoSync: true,
    online: sync.online,
    foreground: sync.foreground,
    realtime: realtime ? sync.realtime : 'off',
    circuit: sync.circuit,
    consecutiveFailures: sync.consecutiveFailures,
    nextRetryAt: sync.nextRetryAt,
    auth: sync.auth,
    lastFailure: sync.lastError ?? engine.lastFailure,
    cycle: sync.cycle,
    writesPendingSince: sync.writesPendingSince,
    // An explicit sync() that failed after the scheduler's last success undoes it too.
    inSyncSince: engine.lastFailure === null ? sync.inSyncSince : null,
  };
}

function mergedState(engine: EngineState, sync: SyncStatus): ClientState {
  if (engine === 'closed' || sync.state === 'closed') return 'closed';
  if (engine === 'hydrating') return 'hydrating';
  if (sync.state === 'idle' && engine === 'syncing') return 'syncing';
  return sync.state;
}

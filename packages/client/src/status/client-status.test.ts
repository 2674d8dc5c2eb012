import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import { failureRecordOf, mergeClientStatus, type EngineStatus } from './client-status.js';
import type { SyncStatus } from '../scheduler/sync-status.js';

const ENGINE: EngineStatus = {
  state: 'idle',
  pending: 2,
  oldestPendingAt: 10,
  oldestPendingAgeMs: 5,
  inFlight: null,
  lastPushAt: null,
  lastPullAt: null,
  lastSyncAt: null,
  checkpoint: 3,
  conflicts: 0,
  settledConflicts: 0,
  deadLetters: 0,
  lastError: null,
  integrity: null,
  sourceId: '11111111-1111-4111-8111-111111111111',
  userId: 'alice',
  online: true,
  foreground: true,
  storage: 'memory',
  consecutiveFailures: 0,
  lastFailure: null,
};

const SYNC: SyncStatus = {
  state: 'idle',
  online: true,
  foreground: true,
  realtime: 'connected',
  circuit: 'closed',
  consecutiveFailures: 0,
  nextRetryAt: null,
  auth: 'ok',
  lastError: null,
  cycle: null,
  lastCycleStartedAt: null,
  lastSuccessfulPushAt: null,
  lastSuccessfulPullAt: null,
  inSyncSince: null,
  writesPendingSince: null,
};

describe('the merged client status', () => {
  it('is the engine’s alone, with neutral scheduler fields, without autoSync', () => {
    const error = new FerryError('unauthorized', 'no', { status: 401 });
    const engine: EngineStatus = {
      ...ENGINE,
      state: 'blocked-auth',
      lastError: error,
      lastFailure: failureRecordOf(error, 7),
      consecutiveFailures: 1,
    };
    expect(mergeClientStatus(engine, null, true)).toMatchObject({
      state: 'blocked-auth',
      autoSync: false,
      realtime: 'off',
      circuit: 'closed',
      auth: 'failed',
      consecutiveFailures: 1,
      lastFailure: { class: 'auth', code: 'unauthorized', status: 401, at: 7 },
      pending: 2,
    });
  });

  it.each([
    ['idle', 'pushing', 'pushing'],
    ['syncing', 'idle', 'syncing'],
    ['hydrating', 'pulling', 'hydrating'],
    ['error', 'backoff', 'backoff'],
    ['idle', 'paused', 'paused'],
    ['idle', 'offline', 'offline'],
    ['closed', 'idle', 'closed'],
    ['idle', 'closed', 'closed'],
  ] as const)('shows engine %s with machine %s as %s', (engine, machine, shown) => {
    expect(
      mergeClientStatus({ ...ENGINE, state: engine }, { ...SYNC, state: machine }, true).state,
    ).toBe(shown);
  });

  it('takes the failure streak from the scheduler and falls back to the engine’s last error', () => {
    const streak = { ...failureRecordOf(new FerryError('network', 'down'), 20) };
    const merged = mergeClientStatus(
      ENGINE,
      { ...SYNC, state: 'backoff', lastError: streak, consecutiveFailures: 2, nextRetryAt: 99 },
      true,
    );
    expect(merged).toMatchObject({
      autoSync: true,
      lastFailure: streak,
      consecutiveFailures: 2,
      nextRetryAt: 99,
      checkpoint: 3,
    });
    const explicit = failureRecordOf(new FerryError('timeout', 'slow'), 30);
    expect(mergeClientStatus({ ...ENGINE, lastFailure: explicit }, SYNC, true).lastFailure).toBe(
      explicit,
    );
  });

  it('says in sync only from a success, the scheduler’s or the engine’s, that no failure followed', () => {
    const failed = failureRecordOf(new FerryError('network', 'down'), 30);
    // With the scheduler: its fact, undone by an explicit sync() that failed after it.
    expect(mergeClientStatus(ENGINE, SYNC, true).inSyncSince).toBeNull();
    expect(mergeClientStatus(ENGINE, { ...SYNC, inSyncSince: 20 }, true).inSyncSince).toBe(20);
    expect(
      mergeClientStatus({ ...ENGINE, lastFailure: failed }, { ...SYNC, inSyncSince: 20 }, true)
        .inSyncSince,
    ).toBeNull();
    // A retry running after a failure is not in sync, whatever the engine's last success was.
    expect(
      mergeClientStatus({ ...ENGINE, lastSyncAt: 10 }, { ...SYNC, state: 'pushing' }, true)
        .inSyncSince,
    ).toBeNull();
    // Without the scheduler: the last sync(), when it succeeded and the device is online.
    expect(mergeClientStatus({ ...ENGINE, lastSyncAt: 10 }, null, true).inSyncSince).toBe(10);
    expect(
      mergeClientStatus({ ...ENGINE, lastSyncAt: 10, lastFailure: failed }, null, true).inSyncSince,
    ).toBeNull();
    expect(
      mergeClientStatus({ ...ENGINE, lastSyncAt: 10, online: false }, null, true).inSyncSince,
    ).toBeNull();
  });

  it('says realtime is off when the events stream is not wanted', () => {
    expect(mergeClientStatus(ENGINE, SYNC, false).realtime).toBe('off');
    expect(mergeClientStatus(ENGINE, SYNC, true).realtime).toBe('connected');
  });
});

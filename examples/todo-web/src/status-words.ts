/**
 * The sync indicator's words, from the status. Pure.
 *
 * @module
 */
import type { SyncStatusView } from '@ferry/react';

/** Local changes not yet committed by the server: waiting and in flight. */
export function waitingOf(status: SyncStatusView): number {
  return status.pending + (status.inFlight?.changes ?? 0);
}

/**
 * What a person reads: "Synced", "Syncing…", "Offline — 3 changes waiting" (working offline,
 * or no network), "Sync paused — check connection" (failures: backoff, circuit open, auth),
 * "Sync paused — resolve conflicts" (a conflict holds the push back).
 */
export function statusWords(status: SyncStatusView): string {
  const waiting = waitingOf(status);
  const changes = `${waiting} ${waiting === 1 ? 'change' : 'changes'} waiting`;
  if (!status.autoSync || !status.online || status.state === 'offline') {
    return waiting > 0 ? `Offline — ${changes}` : 'Offline';
  }
  if (status.state === 'blocked-conflict') return 'Sync paused — resolve conflicts';
  if (
    status.state === 'backoff' ||
    status.state === 'paused' ||
    status.state === 'blocked-auth' ||
    status.state === 'error'
  ) {
    return 'Sync paused — check connection';
  }
  if (waiting > 0 || status.cycle !== null || status.state !== 'idle') return 'Syncing…';
  return 'Synced';
}

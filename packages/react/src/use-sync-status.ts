/**
 * The sync status hooks: `useSyncStatus` and `usePendingCount`.
 *
 * @module
 */
import { useCallback, useSyncExternalStore } from 'react';
import type { ClientStatus, FerryClient, SharedStatus, TabGroup } from '@ferry/client';
import { useFerryContext } from './ferry-context.js';

/**
 * The status a component shows: the client's, or in a follower tab the leader's (only the
 * leader syncs). `lastError` is its code and message.
 */
export type SyncStatusView = SharedStatus;

/** A status as shown, computed once per status object (a stable snapshot for React). */
const views = new WeakMap<ClientStatus, SyncStatusView>();

function viewOf(status: ClientStatus): SyncStatusView {
  let view = views.get(status);
  if (!view) {
    view = {
      ...status,
      lastError:
        status.lastError === null
          ? null
          : { code: status.lastError.code, message: status.lastError.message },
    };
    views.set(status, view);
  }
  return view;
}

function currentStatus(client: FerryClient, tabs: TabGroup | null): SyncStatusView {
  if (tabs !== null && tabs.role === 'follower' && tabs.status !== null) return tabs.status;
  return viewOf(client.status);
}

/**
 * The sync status, re-rendering on every change (state, counts, errors): what a sync indicator
 * reads ("Synced", "Offline — 3 changes waiting").
 */
export function useSyncStatus(): SyncStatusView {
  const { client, tabs } = useFerryContext();
  const subscribe = useCallback(
    (onChange: () => void) => {
      const stopClient = client.subscribe((event) => {
        if (event.type === 'status') onChange();
      });
      const stopTabs = tabs?.subscribe(onChange);
      return () => {
        stopClient();
        stopTabs?.();
      };
    },
    [client, tabs],
  );
  return useSyncExternalStore(subscribe, () => currentStatus(client, tabs));
}

/** Local changes not yet committed by the server: those waiting and those in flight. */
export function usePendingCount(): number {
  const status = useSyncStatus();
  return status.pending + (status.inFlight?.changes ?? 0);
}

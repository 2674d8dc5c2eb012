/**
 * Many tabs, one sync. Every tab of an origin opens the same database (its own connection, in
 * its own worker) and its own client; `shareAcrossTabs` makes them one app:
 *
 * - **One leader.** The tabs ask for one Web Lock named after the database; the tab that holds
 *   it is the leader and the only one whose client syncs (`client.connect()`): one events stream
 *   and one sync loop per origin, however many tabs are open. The others wait in the lock's
 *   queue. When the leader's tab closes or crashes the browser releases the lock and the next
 *   tab takes over at once; a bundle that was in flight is in the database, frozen, and the new
 *   leader sends it again unchanged (the server answers a repeat with the first answer), so
 *   nothing is lost or committed twice.
 * - **Changes reach every tab.** Each tab announces on a `BroadcastChannel` the tables its
 *   writes and the leader's pulls changed; the others re-run their live queries that read them
 *   (`client.tablesChanged`), and the leader pushes a follower's writes as it pushes its own.
 * - **One status.** The leader broadcasts its sync status; `tabs.status` is the leader's in
 *   every tab.
 *
 * The model is that of PowerSync's shared sync worker, Replicache's client groups and RxDB's
 * leader election: one writer to the server per origin, every tab a full reader and writer of
 * the local database.
 *
 * @module
 */
import type { ClientEvent, FerryClient } from '../ferry-client.js';
import type { SyncScheduleOverrides } from '../scheduler/sync-schedule.js';
import type { ClientStatus } from '../types.js';

/** A tab's part in the group. */
export type TabRole = 'leader' | 'follower';

/** The leader's status as it crosses to other tabs (`lastError` as its code and message). */
export type SharedStatus = Omit<ClientStatus, 'lastError'> & {
  readonly lastError: { readonly code: string; readonly message: string } | null;
};

/** What tabs say to each other. */
export type TabMessage =
  | { readonly type: 'changed'; readonly tables: readonly string[] }
  | { readonly type: 'status'; readonly status: SharedStatus }
  | { readonly type: 'paused'; readonly paused: boolean }
  | { readonly type: 'hello' };

/** The part of `BroadcastChannel` the group uses. */
export interface TabChannel {
  postMessage(message: TabMessage): void;
  addEventListener(type: 'message', listener: (event: MessageEvent<TabMessage>) => void): void;
  close(): void;
}

/** The part of `navigator.locks` the group uses. */
export interface TabLocks {
  request(
    name: string,
    options: { readonly signal: AbortSignal },
    callback: () => Promise<void>,
  ): Promise<void>;
}

/** Options of {@link shareAcrossTabs}. */
export interface ShareAcrossTabsOptions {
  /** The database's name: tabs with the same name form one group. */
  readonly name: string;
  /** Default `navigator.locks`. */
  readonly locks?: TabLocks;
  /** Default `new BroadcastChannel(\`ferry-tabs:${name}\`)`. */
  readonly channel?: TabChannel;
  /** The leader's sync schedule (see `client.connect`). */
  readonly schedule?: SyncScheduleOverrides;
}

/** A tab's membership of its group. */
export interface TabGroup {
  readonly role: TabRole;
  /** The leader's sync status (this tab's own while it leads; null until a leader spoke). */
  readonly status: SharedStatus | null;
  /** Whether sync is paused for every tab ("work offline"). */
  readonly paused: boolean;
  /**
   * Pauses or resumes sync for the whole group: the leader disconnects or connects its client,
   * and a tab that becomes leader later keeps to it. Local reads and writes go on.
   */
  setPaused(paused: boolean): Promise<void>;
  /**
   * Called on a change of role, of the leader's status or of `paused`; returns the
   * unsubscribe function.
   */
  subscribe(listener: () => void): () => void;
  /** Leaves the group: a leader disconnects its client and hands the lock on. */
  close(): Promise<void>;
}

/** Joins `client` to the tabs of database `options.name` (see the module's notes). */
export function shareAcrossTabs(client: FerryClient, options: ShareAcrossTabsOptions): TabGroup {
  const locks = options.locks ?? navigator.locks;
  const channel: TabChannel = options.channel ?? new BroadcastChannel(`ferry-tabs:${options.name}`);
  const listeners = new Set<() => void>();
  const notify = () => {
    for (const listener of listeners) listener();
  };
  let role: TabRole = 'follower';
  let status: SharedStatus | null = null;
  let paused = false;
  /** Applies `paused` to this tab (the leader's client connects or disconnects). */
  const applyPaused = async (value: boolean) => {
    paused = value;
    if (role === 'leader') {
      if (paused) await client.disconnect();
      else client.connect(options.schedule);
    }
    notify();
  };
  let closed = false;
  const leaving = new AbortController();
  let resign: () => void = () => undefined;
  const resigned = new Promise<void>((resolve) => (resign = resolve));

  const unsubscribe = client.subscribe((event: ClientEvent) => {
    if (closed) return;
    if (event.type === 'write' || event.type === 'remote-change') {
      channel.postMessage({ type: 'changed', tables: event.tables });
    } else if (event.type === 'status' && role === 'leader') {
      status = sharedStatusOf(event.status);
      channel.postMessage({ type: 'status', status });
      notify();
    }
  });
  channel.addEventListener('message', (event: MessageEvent<TabMessage>) => {
    if (closed) return;
    const message = event.data;
    if (message.type === 'changed') client.tablesChanged(message.tables);
    else if (message.type === 'status' && role === 'follower') {
      status = message.status;
      notify();
    } else if (message.type === 'paused') {
      void applyPaused(message.paused);
    } else if (message.type === 'hello' && role === 'leader') {
      if (status !== null) channel.postMessage({ type: 'status', status });
      channel.postMessage({ type: 'paused', paused });
    }
  });
  channel.postMessage({ type: 'hello' });

  const leadership = locks
    .request(`ferry-leader:${options.name}`, { signal: leaving.signal }, async () => {
      if (closed) return;
      role = 'leader';
      if (!paused) client.connect(options.schedule);
      status = sharedStatusOf(client.status);
      channel.postMessage({ type: 'status', status });
      notify();
      await resigned;
      await client.disconnect();
    })
    .catch((error: unknown) => {
      // Leaving while still queued aborts the request: not an error.
      if (!leaving.signal.aborted) throw error;
    });

  return {
    get role() {
      return role;
    },
    get status() {
      return status;
    },
    get paused() {
      return paused;
    },
    async setPaused(value) {
      if (closed) return;
      channel.postMessage({ type: 'paused', paused: value });
      await applyPaused(value);
    },
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      leaving.abort();
      resign();
      await leadership;
      role = 'follower';
      channel.close();
      listeners.clear();
    },
  };
}

function sharedStatusOf(status: ClientStatus): SharedStatus {
  return {
    ...status,
    lastError:
      status.lastError === null
        ? null
        : { code: status.lastError.code, message: status.lastError.message },
  };
}

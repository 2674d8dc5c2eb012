/**
 * A real store wrapped so an abuse test can see what the server holds: how many snapshot
 * readers are open right now, and a gate that holds `snapshot()` until the test lets it go
 * (to hang up while the store is still opening the read). Everything else passes through.
 */
import type { Schema, SchemaHistory } from '@ferry/protocol';
import type { RetentionPolicy } from '../core/decide-retention.js';
import type {
  BackendWriteTx,
  CommittedBundle,
  PruneOutcome,
  PullInput,
  PullOutcome,
  PushInput,
  PushOutcome,
  ServerStore,
  SnapshotReader,
  SyncOutcome,
  WriteOutcome,
} from '../store/server-store.js';

/** A store that counts its open snapshot readers. */
export interface TrackedStore extends ServerStore {
  /** Snapshot readers opened and not yet closed. */
  readonly openSnapshots: number;
  /** Snapshot readers opened so far. */
  readonly snapshotsOpened: number;
  /** Snapshot rows read from the store so far, all readers. */
  readonly snapshotRowsRead: number;
  /**
   * Holds every later `snapshot()` call until the returned function is called; `entered`
   * resolves when the first held call arrives.
   */
  holdSnapshots(): { entered: Promise<void>; release: () => void };
}

/** Wraps `inner` (a real store) in a {@link TrackedStore}. */
export function trackStore(inner: ServerStore): TrackedStore {
  let open = 0;
  let opened = 0;
  let rowsRead = 0;
  let gate: { wait: Promise<void>; arrived: () => void } | undefined;
  const tracked: TrackedStore = {
    get openSnapshots() {
      return open;
    },
    get snapshotsOpened() {
      return opened;
    },
    get snapshotRowsRead() {
      return rowsRead;
    },
    get maxSnapshotReaders() {
      return inner.maxSnapshotReaders;
    },
    holdSnapshots() {
      let release!: () => void;
      let arrived!: () => void;
      const entered = new Promise<void>((resolve) => (arrived = resolve));
      gate = { wait: new Promise<void>((resolve) => (release = resolve)), arrived };
      return {
        entered,
        release: () => {
          gate = undefined;
          release();
        },
      };
    },
    open: (schema: Schema | SchemaHistory) => inner.open(schema),
    migrationPlan: (history: SchemaHistory) => inner.migrationPlan(history),
    push: (input: PushInput): Promise<PushOutcome> => inner.push(input),
    pull: (input: PullInput): Promise<PullOutcome> => inner.pull(input),
    sync: (input: { push: PushInput | null; pull: PullInput; now: Date }): Promise<SyncOutcome> =>
      inner.sync(input),
    async snapshot(userId: string, after?: number): Promise<SnapshotReader> {
      const held = gate;
      if (held) {
        held.arrived();
        await held.wait;
      }
      const reader = await inner.snapshot(userId, after);
      open++;
      opened++;
      let closed = false;
      return {
        snapshotBundleSeq: reader.snapshotBundleSeq,
        token: reader.token,
        serverId: reader.serverId,
        cursor: reader.cursor,
        async *rows() {
          for await (const batch of reader.rows()) {
            rowsRead += batch.length;
            yield batch;
          }
        },
        async close() {
          if (!closed) {
            closed = true;
            open--;
          }
          await reader.close();
        },
      };
    },
    write: <T>(
      userId: string,
      fn: (tx: BackendWriteTx) => Promise<T> | T,
    ): Promise<WriteOutcome<T>> => inner.write(userId, fn),
    drainExternal: (): Promise<readonly CommittedBundle[]> => inner.drainExternal(),
    lastBundleSeq: (userId: string) => inner.lastBundleSeq(userId),
    prune: (policy: RetentionPolicy, now: Date): Promise<PruneOutcome> => inner.prune(policy, now),
    onCommit: (listener: (bundles: readonly CommittedBundle[]) => void) => inner.onCommit(listener),
    ping: () => inner.ping(),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  return tracked;
}

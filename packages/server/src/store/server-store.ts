import type {
  MigrationStep,
  SchemaHistory,
  Change,
  Conflict,
  HistoryPoint,
  PrimaryKey,
  Schema,
  SnapshotRow,
  WireRow,
} from '@ferry/protocol';
import type { CursorState } from '../core/decide-cursor.js';
import type { RetentionPolicy } from '../core/decide-retention.js';
import type { Rejection } from '../core/rejections.js';
import type { ServerHooks, TokenClaims } from '../core/server-hooks.js';
import type { PullPage } from '../core/wire-json.js';

/** A push, after its body was parsed. The store validates the changes itself. */
export interface PushInput {
  readonly userId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly changes: readonly Change[];
  /**
   * The changes as the client sent them, when the server took them from an older schema version
   * into its own (`changes`): the bundle's digest, which the client compares with its own, is of
   * these. Undefined: `changes` are what was sent.
   */
  readonly sentChanges?: readonly Change[] | undefined;
  /** Commit time, for server-derived columns and retention. */
  readonly now: Date;
  /**
   * The client's pull cursor (`POST /v1/sync`, and `POST /v1/push` when the client sends one),
   * checked before anything is committed so that a 410 never hides a committed push.
   */
  readonly pullAfter?: number | undefined;
  /** The client's history token of bundle `pullAfter` (`afterToken`). */
  readonly pullAfterToken?: string | undefined;
  /**
   * The newest history point the client's answers told it of (`basesAt`), checked like
   * `pullAfter` before the push is judged (see `runPush`).
   */
  readonly basesAt?: HistoryPoint | undefined;
  /** The server's rules, run inside the push's transaction (see `ServerHooks`); none: none. */
  readonly hooks?: ServerHooks | undefined;
  /** The claims of the request's token, for the hooks (default: none). */
  readonly claims?: TokenClaims | undefined;
}

/** An error answer a store decided on, as a value (built with the functions of core/rejections). */
export type StoreRejection = Rejection;

/** Outcome of {@link ServerStore.push}. */
export type PushOutcome =
  | {
      readonly kind: 'committed';
      /** True when this was a retry of the source's last committed bundle. */
      readonly replayed: boolean;
      readonly bundleSeq: number;
      readonly rowCount: number;
      /**
       * The exact 200 body (stored, so replays return it byte for byte), with the bundle's
       * history token.
       */
      readonly responseJson: string;
      /**
       * A replay's: the schema version its rows are in (null: from before versions, so 1;
       * undefined: the newest), when the push committed before a migration.
       */
      readonly schemaVersion?: number | null | undefined;
    }
  | {
      readonly kind: 'conflict';
      readonly conflicts: readonly Conflict[];
      /** The user's head the conflicts were judged on (null when it has no token). */
      readonly head: HistoryPoint | null;
    }
  | StoreRejection;

/** Input of {@link ServerStore.pull}. */
export interface PullInput {
  readonly userId: string;
  readonly after: number;
  /** Row limit of the page (a page ends at a bundle boundary, holds at least one bundle). */
  readonly limit: number;
  /**
   * The client's history token of bundle `after`, checked against the store's
   * (see `decideCursor`); a different one is 410 `cursor_unknown` / `history_diverged`.
   */
  readonly token?: string | undefined;
}

/** See {@link ServerStore.migrationPlan}. */
export interface StoreMigrationPlan {
  readonly from: number | null;
  readonly to: number;
  readonly migrations: readonly {
    readonly version: number;
    readonly steps: readonly MigrationStep[];
    /** The statements in order; custom SQL among them as given. */
    readonly sql: readonly string[];
  }[];
}

/** Outcome of {@link ServerStore.pull}. */
export type PullOutcome = { readonly kind: 'page'; readonly page: PullPage } | StoreRejection;

/** Outcome of {@link ServerStore.sync}. */
export interface SyncOutcome {
  readonly push: PushOutcome | null;
  /** Null when the push was rejected (the whole request fails then). */
  readonly pull: PullOutcome | null;
}

/** One consistent read of a user's rows, streamed. Close it when done (or abandoned). */
export interface SnapshotReader {
  readonly snapshotBundleSeq: number;
  /**
   * The history token of bundle `snapshotBundleSeq`, read in the same consistent read (null at
   * 0 or for a bundle from before tokens; undefined from a store without tokens).
   */
  readonly token?: string | null | undefined;
  /** The store's {@link ServerStore.serverId}. */
  readonly serverId?: string | undefined;
  /**
   * What `decideCursor` needs to judge the `after` the snapshot was opened with, read in
   * the same consistent read (undefined when opened without one).
   */
  readonly cursor?: CursorState | undefined;
  /** Row lines in batches, parents first; ends after the last row. */
  rows(): AsyncIterable<readonly SnapshotRow[]>;
  close(): Promise<void>;
}

/** A bundle that just committed: what pokes and metrics need. */
export interface CommittedBundle {
  readonly userId: string;
  readonly bundleSeq: number;
  readonly rowCount: number;
  /** `push` for a client's push, `backend` for writes by backend code. */
  readonly origin: 'push' | 'backend';
  /**
   * True when this store instance did not commit the bundle itself but heard of it through
   * the database (another server instance, or SQL outside any server, on a shared PostgreSQL):
   * worth a poke, not worth counting again in this instance's metrics.
   */
  readonly remote?: boolean;
}

/**
 * The transaction handed to {@link ServerStore.write}: backend code writing business rows.
 * Every effect, including cascades and raw SQL on other users' rows, becomes a bundle of each
 * affected user (`sourceId: null`) when the callback returns.
 */
export interface BackendWriteTx {
  /** The user whose rows `upsert`, `delete` and `get` act on. */
  readonly userId: string;
  /**
   * Inserts or replaces a whole row of `userId`, validated like a pushed upsert (missing
   * columns take their default or null, the owner column is set, server-derived columns are
   * written by the server). Throws `validation_failed` or `forbidden` (the pk is another user's).
   */
  upsert(table: string, row: WireRow): Promise<void>;
  /**
   * Inserts a new row of `userId`, validated like `upsert`, and returns its key. On a table whose
   * keys the server assigns (`keys: 'server'`), a row that leaves its key out takes the next key
   * of the sequence that keys devices' inserts (integer) or a random uuid. Throws `conflict` when
   * the key names a row that exists, `validation_failed` like `upsert` (a table whose keys the
   * client chooses needs the key in the row).
   */
  insert(table: string, row: WireRow): Promise<PrimaryKey>;
  /** Deletes a row of `userId`; a missing row is no error. Throws `forbidden` for another user's. */
  delete(table: string, pk: PrimaryKey): Promise<void>;
  /** Reads a row of `userId`, or undefined. */
  get(table: string, pk: PrimaryKey): Promise<WireRow | undefined>;
  /** Runs one SQL statement of the store's dialect in this transaction. */
  execute(sql: string, params?: readonly unknown[]): Promise<{ changes: number }>;
  /** Runs one SQL query of the store's dialect in this transaction. */
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
}

/** Outcome of {@link ServerStore.write}. */
export interface WriteOutcome<T> {
  readonly value: T;
  /** The bundles the write committed, one per affected user. */
  readonly bundles: readonly CommittedBundle[];
}

/** Outcome of {@link ServerStore.prune}. */
export interface PruneOutcome {
  readonly bundlesDeleted: number;
  /** Tombstones (row state of deleted rows) purged with the history they belonged to. */
  readonly tombstonesPurged: number;
  /** Tombstones the store still keeps, all users (undefined: a store that does not count). */
  readonly tombstones?: number | undefined;
}

/**
 * Where a Ferry server keeps business rows and sync metadata. Async so that a networked
 * database can implement it; every protocol decision lives in pure functions of `core/`
 * (validateChanges, decideSourceBundle, decidePush, planBundles, fitsOnPage, decideCursor,
 * decidePruneThrough, nextHistoryToken)
 * that each implementation calls inside its own transactions.
 *
 * Contract (the store contract suite checks it for every implementation):
 * 1. A user's bundles commit in `bundleSeq` order with no gaps; a push is all or nothing.
 * 2. Every row effect of a transaction (pushed changes, cascades, trigger writes, server-derived
 *    columns) lands in the bundle, with its authoritative row.
 * 3. Writes to business tables that did not come through `push` (backend code, raw SQL by
 *    another process) become bundles with `sourceId: null`, ordered before any later push.
 * 4. `pull` and `snapshot` read one consistent state; `stableBundleSeq` never moves backwards.
 * 5. `onCommit` listeners hear every committed bundle after its transaction committed.
 * 6. Every committed bundle gets a history token chained from the previous bundle of its user
 *    (`nextHistoryToken`, starting from `genesisToken(serverId, userId)`); a pushed bundle keeps
 *    the `bundleDigest` of its changes, which decides replay against `bundle_mismatch`.
 */
export interface ServerStore extends AsyncDisposable {
  /**
   * The identity of the store's database: a UUID created once, when `open` first initialises
   * the data, and kept with it (restarts, upgrades and every server instance on the same data
   * see the same one). Set by `open`; undefined before, and for a store without an identity.
   */
  readonly serverId?: string | undefined;
  /**
   * How many snapshot readers this store can hold open at once without starving pushes and
   * pulls (each holds a connection and a read transaction for as long as its client reads).
   * The server caps concurrent snapshots at this unless told otherwise; undefined: no opinion.
   */
  readonly maxSnapshotReaders?: number | undefined;
  /**
   * Creates or checks business tables and sync metadata for `schema` (the newest version of a
   * history), migrating a database made with an older version of it, one transaction per
   * version. Refuses a database of a version newer than the history's or of no version of it.
   * Called once.
   */
  open(schema: Schema | SchemaHistory): Promise<void>;
  /**
   * What {@link open} would do to the database for `history`, without doing it (and without
   * opening the store): the version it holds (null: none yet, the newest would be created) and
   * each pending version's steps and SQL. Refuses, as `open` does, a database ahead of the
   * history or of no version of it.
   */
  migrationPlan(history: SchemaHistory): Promise<StoreMigrationPlan>;
  push(input: PushInput): Promise<PushOutcome>;
  pull(input: PullInput): Promise<PullOutcome>;
  /** A push (when given) and then a pull, with the cursor checked before the push commits. */
  sync(input: { push: PushInput | null; pull: PullInput; now: Date }): Promise<SyncOutcome>;
  /**
   * Opens a consistent read of `userId`'s rows for hydration. The reader holds a connection and
   * a read transaction until `close()`: the caller must close it on every path (the end, a
   * failure, a client that went away). With `after` (the client's checkpoint), the reader also
   * carries what judging it as a cursor needs ({@link SnapshotReader.cursor}), from the same read.
   */
  snapshot(userId: string, after?: number): Promise<SnapshotReader>;
  /** Runs backend code in one transaction; see {@link BackendWriteTx}. */
  write<T>(userId: string, fn: (tx: BackendWriteTx) => Promise<T> | T): Promise<WriteOutcome<T>>;
  /** Turns writes made outside the server (raw SQL) into bundles now. */
  drainExternal(): Promise<readonly CommittedBundle[]>;
  /** The user's highest committed bundleSeq (0 before the first). */
  lastBundleSeq(userId: string): Promise<number>;
  /** Drops pull history as the policy allows. */
  prune(policy: RetentionPolicy, now: Date): Promise<PruneOutcome>;
  /** Listens to committed bundles; returns the function that stops listening. */
  onCommit(listener: (bundles: readonly CommittedBundle[]) => void): () => void;
  /** Resolves when the store answers a trivial query. */
  ping(): Promise<void>;
  /** Waits for open work, then releases every resource (files, connections). Idempotent. */
  close(): Promise<void>;
}

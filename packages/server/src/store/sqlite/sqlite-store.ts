import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  FerryError,
  bundleDigest,
  fromSqliteValue,
  toSqliteValue,
  type PrimaryKey,
  type Schema,
  type SnapshotRow,
  type Table,
  type WireRow,
} from '@ferry/protocol';
import { decideCursor, type CursorState } from '../../core/decide-cursor.js';
import type { ReferencingChild, RowState } from '../../core/decide-push.js';
import { genesisToken, nextHistoryToken } from '../../core/history-token.js';
import { decidePruneThrough, type RetentionPolicy } from '../../core/decide-retention.js';
import { cursorRejection, danglingReferenceRejection } from '../../core/rejections.js';
import {
  defaultPushRules,
  runPush,
  type PushRules,
  type PushTx,
  type StoredSource,
} from '../../core/run-push.js';
import { fitsOnPage } from '../../core/page-bundles.js';
import { planBundles, type CapturedRow } from '../../core/plan-bundles.js';
import { rowKey, validateChanges } from '../../core/validate-changes.js';
import { pushResponseJson, type StoredBundle } from '../../core/wire-json.js';
import { Mutex } from '../../mutex.js';
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
} from '../server-store.js';
import {
  METADATA_DDL,
  METADATA_UPGRADES,
  SQLITE_METADATA_VERSION,
  quoteIdent,
  schemaDdl,
} from './sqlite-ddl.js';

/** Options of {@link createSqliteStore}. */
export interface SqliteStoreOptions {
  /** The database file (its directory is created), or `':memory:'` for a throwaway store. */
  readonly path: string;
  /** How long a statement waits for a lock held by another connection (default 5,000 ms). */
  readonly busyTimeoutMs?: number;
  /** Row lines per batch of a snapshot stream (default 500). */
  readonly snapshotBatchRows?: number;
  /**
   * Makes the identity of a new database (default `crypto.randomUUID`); called once, when
   * `open` initialises a file that has none. The simulator passes a seeded one.
   */
  readonly createServerId?: () => string;
  /**
   * Test only: the push decisions to take instead of the protocol's (`defaultPushRules`). The
   * simulator's negative controls pass deliberately broken ones (a simulator that cannot catch
   * them proves nothing). Never set it anywhere else.
   */
  readonly __pushRules?: PushRules;
}

/**
 * The embedded store: one SQLite file (WAL) holding the business tables, with real columns and
 * foreign keys, next to the ferry_* sync metadata. Other code may read and write the business
 * tables with SQL, also from another process: triggers capture those writes and the server
 * turns them into bundles.
 *
 * A process that writes the file must enable `PRAGMA foreign_keys = ON` for cascades to happen.
 *
 * @example
 * const store = createSqliteStore({ path: './ferry-data/ferry.db' });
 * const server = await createFerryServer({ schema, store, auth: { jwtSecret } });
 */
export function createSqliteStore(options: SqliteStoreOptions): ServerStore {
  return new SqliteStore(options);
}

type Db = Database.Database;
type Statement = Database.Statement;
type RawRow = Record<string, unknown>;

interface TableStatements {
  readonly table: Table;
  readonly upsert: Statement;
  readonly upsertColumns: readonly string[];
  readonly remove: Statement;
  readonly select: Statement;
  readonly selectOwned: Statement;
  /** Per referencing child column: SELECT pk FROM child WHERE column = ?. */
  readonly children: ReadonlyMap<string, Statement>;
}

interface Statements {
  readonly tables: ReadonlyMap<string, TableStatements>;
  readonly rowState: Statement;
  readonly putRowState: Statement;
  readonly userState: Statement;
  readonly putUserSeq: Statement;
  readonly source: Statement;
  readonly putSource: Statement;
  readonly bundle: Statement;
  readonly bundleToken: Statement;
  readonly insertBundle: Statement;
  readonly captured: Statement;
  readonly clearCapture: Statement;
  readonly hasCapture: Statement;
}

interface ReadStatements {
  readonly userState: Statement;
  readonly bundleToken: Statement;
  readonly bundlesAfter: Statement;
  readonly hasCapture: Statement;
}

/** A user's row of ferry_users (all zero and null before the user's first bundle). */
interface UserState {
  readonly lastSeq: number;
  readonly prunedThrough: number;
  readonly lastToken: string | null;
  readonly prunedToken: string | null;
}

const NO_USER: UserState = { lastSeq: 0, prunedThrough: 0, lastToken: null, prunedToken: null };

/** The columns of {@link UserState}, for SELECTs on ferry_users. */
const USER_STATE_COLUMNS =
  'last_seq AS lastSeq, pruned_through AS prunedThrough, last_token AS lastToken, pruned_token AS prunedToken';

class SqliteStore implements ServerStore {
  readonly #options: SqliteStoreOptions;
  readonly #mutex = new Mutex();
  readonly #rules: PushRules;
  readonly #listeners = new Set<(bundles: readonly CommittedBundle[]) => void>();
  readonly #snapshots = new Set<SqliteSnapshot>();
  #schema: Schema | undefined;
  #db: Db | undefined;
  #readDb: Db | undefined;
  #stmts: Statements | undefined;
  #read: ReadStatements | undefined;
  #serverId: string | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: SqliteStoreOptions) {
    this.#options = options;
    this.#rules = options.__pushRules ?? defaultPushRules;
  }

  get serverId(): string | undefined {
    return this.#serverId;
  }

  get #memory(): boolean {
    return this.#options.path === ':memory:';
  }

  async open(schema: Schema): Promise<void> {
    if (this.#db) throw new FerryError('invalid_argument', 'the store is already open');
    if (this.#closing) throw new FerryError('closed', 'the store is closed');
    if (!this.#memory) mkdirSync(dirname(this.#options.path), { recursive: true });
    const db = new Database(this.#options.path);
    try {
      configure(db, this.#options.busyTimeoutMs ?? 5_000);
      db.exec(METADATA_DDL);
      const migrate = db.transaction(() => {
        const meta = new Map(
          (
            db.prepare('SELECT key, value FROM ferry_meta').all() as {
              key: string;
              value: string;
            }[]
          ).map((r) => [r.key, r.value]),
        );
        const stored = meta.get('schema_fingerprint');
        if (stored !== undefined && stored !== schema.fingerprint) {
          throw new FerryError(
            'invalid_schema',
            `${this.#options.path} was created with a different schema (fingerprint ${stored}, now ${schema.fingerprint}); schema migrations are not supported yet: use a new data directory`,
          );
        }
        db.exec(schemaDdl(schema));
        upgradeMetadata(db);
        const put = db.prepare('INSERT OR REPLACE INTO ferry_meta (key, value) VALUES (?, ?)');
        put.run('schema_fingerprint', schema.fingerprint);
        put.run('metadata_version', SQLITE_METADATA_VERSION);
        let serverId = meta.get('server_id');
        if (serverId === undefined) {
          serverId = (this.#options.createServerId ?? randomUUID)();
          put.run('server_id', serverId);
        }
        return serverId;
      });
      this.#serverId = migrate.immediate();
      this.#schema = schema;
      this.#stmts = prepareStatements(db, schema);
      this.#db = db;
      const readDb = this.#memory ? db : new Database(this.#options.path, { fileMustExist: true });
      if (readDb !== db) configure(readDb, this.#options.busyTimeoutMs ?? 5_000, 16);
      this.#readDb = readDb;
      this.#read = {
        userState: readDb.prepare(
          `SELECT ${USER_STATE_COLUMNS} FROM ferry_users WHERE user_id = ?`,
        ),
        bundleToken: readDb
          .prepare('SELECT token FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?')
          .pluck(),
        bundlesAfter: readDb.prepare(
          'SELECT bundle_seq AS bundleSeq, source_id AS sourceId, source_bundle_id AS sourceBundleId, row_count AS rowCount, rows AS rowsJson, token, digest FROM ferry_bundles WHERE user_id = ? AND bundle_seq > ? AND bundle_seq <= ? ORDER BY bundle_seq',
        ),
        hasCapture: readDb.prepare('SELECT EXISTS (SELECT 1 FROM ferry_capture) AS pending'),
      };
    } catch (error) {
      if (db.open) db.close();
      this.#db = undefined;
      throw error;
    }
  }

  async push(input: PushInput): Promise<PushOutcome> {
    const digest = bundleDigest(input.changes);
    const { outcome, committed } = await this.#mutex.run(() =>
      this.#pushTransaction(input, digest),
    );
    this.#emit(committed);
    return outcome;
  }

  async pull(input: PullInput): Promise<PullOutcome> {
    await this.#drainIfPending();
    this.#live();
    return this.#pullNow(input);
  }

  async sync(input: { push: PushInput | null; pull: PullInput; now: Date }): Promise<SyncOutcome> {
    if (!input.push) {
      return { push: null, pull: await this.pull(input.pull) };
    }
    const push = { ...input.push, pullAfter: input.pull.after, pullAfterToken: input.pull.token };
    const digest = bundleDigest(push.changes);
    // Push and pull run back to back in the mutex, so nothing (pruning included) can move the
    // cursor between them.
    const { outcome, committed, pull } = await this.#mutex.run(async () => {
      const result = await this.#pushTransaction(push, digest);
      const page = result.outcome.kind === 'rejected' ? null : this.#pullNow(input.pull);
      return { ...result, pull: page };
    });
    this.#emit(committed);
    return { push: outcome, pull };
  }

  async snapshot(userId: string): Promise<SnapshotReader> {
    await this.#drainIfPending();
    const { db } = this.#live();
    const schema = this.#schema!;
    const batchRows = this.#options.snapshotBatchRows ?? 500;
    const connection = this.#memory
      ? db
      : new Database(this.#options.path, { fileMustExist: true });
    if (connection !== db) configure(connection, this.#options.busyTimeoutMs ?? 5_000, 8);
    const snapshot = new SqliteSnapshot(
      connection,
      connection !== db,
      schema,
      userId,
      batchRows,
      this.#serverId!,
      () => this.#snapshots.delete(snapshot),
    );
    this.#snapshots.add(snapshot);
    return snapshot;
  }

  async write<T>(
    userId: string,
    fn: (tx: BackendWriteTx) => Promise<T> | T,
  ): Promise<WriteOutcome<T>> {
    if (typeof userId !== 'string' || userId.length === 0) {
      throw new FerryError('invalid_argument', 'write needs a non-empty userId');
    }
    const result = await this.#mutex.run(async () => {
      const { db } = this.#live();
      const drained = this.#drainNow();
      this.#emit(drained);
      const now = new Date();
      const tx = new SqliteWriteTx(db, this.#schema!, this.#stmts!, userId, now);
      db.exec('BEGIN IMMEDIATE');
      try {
        const value = await fn(tx);
        tx.finish();
        const committed = this.#commitCaptured(null, now).bundles;
        db.exec('COMMIT');
        return { value, bundles: committed };
      } catch (error) {
        tx.finish();
        if (db.inTransaction) db.exec('ROLLBACK');
        throw error;
      }
    });
    this.#emit(result.bundles);
    return result;
  }

  async drainExternal(): Promise<readonly CommittedBundle[]> {
    if (!this.#db || this.#closing) return [];
    if (!this.#hasPendingCapture()) return [];
    const committed = await this.#mutex.run(() =>
      this.#db && !this.#closing ? this.#drainNow() : [],
    );
    this.#emit(committed);
    return committed;
  }

  async lastBundleSeq(userId: string): Promise<number> {
    this.#live();
    const state = this.#read!.userState.get(userId) as { lastSeq: number } | undefined;
    return state?.lastSeq ?? 0;
  }

  async prune(policy: RetentionPolicy, now: Date): Promise<PruneOutcome> {
    return this.#mutex.run(() => {
      const { db } = this.#live();
      return db
        .transaction(() => {
          const users = db
            .prepare(
              'SELECT user_id AS userId, last_seq AS lastSeq, pruned_through AS prunedThrough FROM ferry_users',
            )
            .all() as { userId: string; lastSeq: number; prunedThrough: number }[];
          const newestExpired = db.prepare(
            'SELECT MAX(bundle_seq) AS seq FROM ferry_bundles WHERE user_id = ? AND committed_at < ?',
          );
          const remove = db.prepare(
            'DELETE FROM ferry_bundles WHERE user_id = ? AND bundle_seq <= ?',
          );
          const orphaned = db.prepare(
            'SELECT source_id AS sourceId, last_committed AS lastCommitted, bundle_seq AS bundleSeq, response, digest FROM ferry_sources WHERE user_id = ? AND bundle_seq <= ? AND response IS NULL',
          );
          const saveResponse = db.prepare(
            'UPDATE ferry_sources SET response = ? WHERE user_id = ? AND source_id = ?',
          );
          // The boundary keeps its bundle's token, so a cursor at it can still be verified.
          const mark = db.prepare(
            'UPDATE ferry_users SET pruned_through = ?, pruned_token = (SELECT token FROM ferry_bundles WHERE user_id = ferry_users.user_id AND bundle_seq = ?) WHERE user_id = ?',
          );
          let bundlesDeleted = 0;
          for (const user of users) {
            const expired =
              policy.maxAgeMs === undefined
                ? undefined
                : ((
                    newestExpired.get(user.userId, now.getTime() - policy.maxAgeMs) as {
                      seq: number | null;
                    }
                  ).seq ?? undefined);
            const through = decidePruneThrough({ ...user, newestExpiredSeq: expired }, policy);
            if (through > user.prunedThrough) {
              // Keep each source's last answer, so replays stay exact after its bundle is gone.
              for (const source of orphaned.all(user.userId, through) as (StoredSource & {
                sourceId: string;
              })[]) {
                const answer = this.#storedResponse(user.userId, source);
                if (answer.kind === 'committed') {
                  saveResponse.run(answer.responseJson, user.userId, source.sourceId);
                }
              }
              mark.run(through, through, user.userId);
              bundlesDeleted += remove.run(user.userId, through).changes;
            }
          }
          return { bundlesDeleted };
        })
        .immediate();
    });
  }

  onCommit(listener: (bundles: readonly CommittedBundle[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(): Promise<void> {
    const { readDb } = this.#live();
    readDb.prepare('SELECT 1').get();
  }

  close(): Promise<void> {
    this.#closing ??= this.#mutex.run(async () => {
      await Promise.all([...this.#snapshots].map((s) => s.close()));
      if (this.#readDb && this.#readDb !== this.#db) this.#readDb.close();
      this.#db?.close();
      this.#readDb = undefined;
      this.#db = undefined;
      this.#listeners.clear();
    });
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #live(): { db: Db; readDb: Db } {
    if (this.#closing) throw new FerryError('closed', 'the store is closed');
    if (!this.#db || !this.#readDb) {
      throw new FerryError('store_unavailable', 'the store is not open (call open(schema) first)');
    }
    return { db: this.#db, readDb: this.#readDb };
  }

  #emit(bundles: readonly CommittedBundle[]): void {
    if (bundles.length === 0) return;
    for (const listener of this.#listeners) listener(bundles);
  }

  #hasPendingCapture(): boolean {
    const row = this.#read!.hasCapture.get() as { pending: number };
    return row.pending === 1;
  }

  async #drainIfPending(): Promise<void> {
    if (this.#db && !this.#closing && this.#hasPendingCapture()) await this.drainExternal();
  }

  /** Runs in the mutex: commits pending external captures as bundles. */
  #drainNow(): CommittedBundle[] {
    const { db } = this.#live();
    return db.transaction(() => this.#commitCaptured(null, new Date()).bundles).immediate();
  }

  /**
   * Runs a push in its own immediate transaction (in the mutex): writes made outside the server
   * first, in their own bundles, then {@link runPush}. Foreign keys are deferred, so a violation
   * the pre-checks cannot see (a cascade that runs into a restrict further down) fails the
   * COMMIT: that rolls everything back and answers 422 `fk_violation`.
   */
  async #pushTransaction(
    input: PushInput,
    digest: string,
  ): Promise<{ outcome: PushOutcome; committed: CommittedBundle[] }> {
    const { db } = this.#live();
    db.exec('BEGIN IMMEDIATE');
    try {
      const committed: CommittedBundle[] = [];
      if ((this.#stmts!.hasCapture.get() as { pending: number }).pending === 1) {
        committed.push(...this.#commitCaptured(null, input.now).bundles);
      }
      const run = await runPush(this.#pushTx(), this.#schema!, input, digest, this.#rules);
      db.exec('COMMIT');
      return { outcome: run.outcome, committed: [...committed, ...run.committed] };
    } catch (error) {
      if (db.inTransaction) db.exec('ROLLBACK');
      if ((error as { code?: unknown }).code !== 'SQLITE_CONSTRAINT_FOREIGNKEY') throw error;
      return { outcome: danglingReferenceRejection(input.changes), committed: [] };
    }
  }

  /** The steps of {@link runPush} on the write connection, inside `#pushTransaction`. */
  #pushTx(): PushTx {
    const stmts = this.#stmts!;
    return {
      lockSource: async (input) => {
        // BEGIN IMMEDIATE holds the file's write lock: every push is ordered already.
        const source = (stmts.source.get(input.userId, input.sourceId) as
          StoredSource | undefined) ?? {
          lastCommitted: 0,
          bundleSeq: 0,
          response: null,
          digest: null,
        };
        const cursor =
          input.pullAfter === undefined
            ? undefined
            : this.#cursorState(
                stmts.userState,
                stmts.bundleToken,
                input.userId,
                input.pullAfter,
                input.pullAfterToken,
              ).cursor;
        return { source, cursor };
      },
      replayAnswer: async (input, source) => this.#storedResponse(input.userId, source),
      readRowStates: async (refs) => {
        const states = new Map<string, RowState>();
        for (const ref of refs) {
          const state = this.#rowState(ref.table, ref.pk);
          if (state) states.set(ref.key, state);
        }
        return states;
      },
      findRestrictedChildren: async (checks) => {
        const found = new Map<number, ReferencingChild[]>();
        for (const check of checks) {
          const { reference } = check;
          const statement = stmts.tables
            .get(reference.parentTable)!
            .children.get(`${reference.childTable}.${reference.column}`)!;
          const children = (statement.pluck(true).all(check.parentPk) as PrimaryKey[]).map(
            (pk) => ({
              table: reference.childTable,
              pk,
              key: rowKey(reference.childTable, pk),
              column: reference.column,
            }),
          );
          found.set(check.index, [...(found.get(check.index) ?? []), ...children]);
        }
        return found;
      },
      readRows: async (table, pks) => {
        const rows = new Map<string, WireRow>();
        for (const pk of pks) {
          const row = this.#selectRow(table, pk);
          if (row) rows.set(rowKey(table.name, pk), row);
        }
        return rows;
      },
      apply: async (changes, now) => {
        const nowIso = now.toISOString();
        for (const change of changes) {
          const statements = stmts.tables.get(change.table.name)!;
          if (change.op === 'upsert') {
            statements.upsert.run(encodeRow(statements, change.row!, nowIso));
          } else {
            statements.remove.run(change.pk);
          }
        }
      },
      seal: async (push) => {
        const { input, digest, states } = push;
        const result = this.#commitCaptured({ ...input, digest }, input.now, states);
        return { own: result.own!, committed: result.bundles };
      },
    };
  }

  /**
   * Runs inside a write transaction: turns every captured row into row effects of the affected
   * users' next bundles, records them, and clears the capture table. With `push`, the pushing
   * user always gets a bundle and the source's answer is stored for replays.
   */
  #commitCaptured(
    push: (Pick<PushInput, 'userId' | 'sourceId' | 'sourceBundleId'> & { digest: string }) | null,
    now: Date,
    known?: ReadonlyMap<string, RowState | undefined>,
  ): {
    bundles: CommittedBundle[];
    own: { bundleSeq: number; rowCount: number; responseJson: string } | undefined;
  } {
    const stmts = this.#stmts!;
    const schema = this.#schema!;
    const keys = stmts.captured.raw(true).all() as [string, PrimaryKey][];
    if (keys.length === 0 && !push) return { bundles: [], own: undefined };
    const captured: CapturedRow[] = [];
    const seen = new Set<string>();
    for (const [tableName, pk] of keys) {
      const statements = stmts.tables.get(tableName);
      if (!statements) continue;
      const key = rowKey(tableName, pk);
      if (seen.has(key)) continue;
      seen.add(key);
      const raw = statements.select.get(pk) as RawRow | undefined;
      captured.push({
        table: tableName,
        pk,
        current: raw
          ? { owner: raw[statements.table.owner] as string, row: decodeRow(statements.table, raw) }
          : undefined,
        previous: known?.has(key) ? known.get(key) : this.#rowState(tableName, pk),
      });
    }
    const plan = planBundles(
      captured,
      (userId) => this.#userState(userId).lastSeq,
      schema.graph,
      push?.userId,
    );
    for (const { table, pk, state } of plan.rowStates) {
      stmts.putRowState.run(table, pk, state.owner, state.rowVersion, state.deleted ? 1 : 0);
    }
    const committedAt = now.getTime();
    const bundles: CommittedBundle[] = [];
    let own: { bundleSeq: number; rowCount: number; responseJson: string } | undefined;
    for (const bundle of plan.bundles) {
      const rowsJson = JSON.stringify(bundle.effects);
      const mine = push !== null && bundle.userId === push.userId;
      const sourceId = mine ? push.sourceId : null;
      const sourceBundleId = mine ? push.sourceBundleId : null;
      // A user without a token yet (first bundle, or first since tokens) chains from genesis.
      const previous =
        this.#userState(bundle.userId).lastToken ?? genesisToken(this.#serverId!, bundle.userId);
      const token = nextHistoryToken(previous, {
        bundleSeq: bundle.bundleSeq,
        sourceId,
        sourceBundleId,
        rowsJson,
      });
      stmts.insertBundle.run(
        bundle.userId,
        bundle.bundleSeq,
        sourceId,
        sourceBundleId,
        bundle.effects.length,
        rowsJson,
        committedAt,
        token,
        mine ? push.digest : null,
      );
      stmts.putUserSeq.run(bundle.userId, bundle.bundleSeq, token);
      if (mine) {
        const responseJson = pushResponseJson(
          push.sourceBundleId,
          bundle.bundleSeq,
          rowsJson,
          token,
        );
        stmts.putSource.run(
          push.userId,
          push.sourceId,
          push.sourceBundleId,
          bundle.bundleSeq,
          push.digest,
        );
        own = { bundleSeq: bundle.bundleSeq, rowCount: bundle.effects.length, responseJson };
      }
      bundles.push({
        userId: bundle.userId,
        bundleSeq: bundle.bundleSeq,
        rowCount: bundle.effects.length,
        origin: mine ? 'push' : 'backend',
      });
    }
    if (keys.length > 0) stmts.clearCapture.run();
    return { bundles, own };
  }

  /**
   * The answer of a source's last committed push: rebuilt from its bundle while the bundle is
   * retained (the same text, by construction), else the copy pruning saved.
   */
  #storedResponse(userId: string, source: StoredSource): PushOutcome {
    let responseJson = source.response;
    let rowCount: number;
    if (responseJson === null) {
      const bundle = this.#stmts!.bundle.get(userId, source.bundleSeq) as
        { rowCount: number; rowsJson: string; token: string | null } | undefined;
      if (!bundle) {
        throw new FerryError('internal', `bundle ${source.bundleSeq} of a source is missing`);
      }
      responseJson = pushResponseJson(
        source.lastCommitted,
        source.bundleSeq,
        bundle.rowsJson,
        bundle.token,
      );
      rowCount = bundle.rowCount;
    } else {
      rowCount = (JSON.parse(responseJson) as { rows: unknown[] }).rows.length;
    }
    return {
      kind: 'committed',
      replayed: true,
      bundleSeq: source.bundleSeq,
      rowCount,
      responseJson,
    };
  }

  #pullNow(input: PullInput): PullOutcome {
    const read = this.#read!;
    const readDb = this.#readDb!;
    return readDb.transaction((): PullOutcome => {
      const { state, cursor } = this.#cursorState(
        read.userState,
        read.bundleToken,
        input.userId,
        input.after,
        input.token,
      );
      const decision = decideCursor({ after: input.after, token: input.token }, cursor);
      if (decision) return cursorRejection(decision, input.after);
      const bundles: StoredBundle[] = [];
      let rows = 0;
      let lastTaken = input.after;
      for (const bundle of read.bundlesAfter.iterate(
        input.userId,
        input.after,
        state.lastSeq,
      ) as IterableIterator<StoredBundle>) {
        if (!fitsOnPage({ bundles: bundles.length, rows }, bundle.rowCount, input.limit)) break;
        bundles.push(bundle);
        rows += bundle.rowCount;
        lastTaken = bundle.bundleSeq;
      }
      return {
        kind: 'page',
        page: {
          bundles,
          stableBundleSeq: state.lastSeq,
          hasMore: lastTaken < state.lastSeq,
          serverId: this.#serverId!,
        },
      };
    })();
  }

  /**
   * Reads what {@link decideCursor} needs, on the write connection inside a push or on the read
   * connection for a pull, in the caller's transaction.
   */
  #cursorState(
    userState: Statement,
    bundleToken: Statement,
    userId: string,
    after: number,
    token: string | undefined,
  ): { state: UserState; cursor: CursorState } {
    const state = (userState.get(userId) as UserState | undefined) ?? NO_USER;
    const afterToken =
      token !== undefined && after > state.prunedThrough && after <= state.lastSeq
        ? ((bundleToken.get(userId, after) as string | null | undefined) ?? null)
        : null;
    return {
      state,
      cursor: {
        lastSeq: state.lastSeq,
        prunedThrough: state.prunedThrough,
        prunedToken: state.prunedToken,
        afterToken,
      },
    };
  }

  #userState(userId: string): UserState {
    return (this.#stmts!.userState.get(userId) as UserState | undefined) ?? NO_USER;
  }

  #rowState(table: string, pk: PrimaryKey): RowState | undefined {
    const raw = this.#stmts!.rowState.get(table, pk) as
      { owner: string; rowVersion: number; deleted: number } | undefined;
    return raw
      ? { owner: raw.owner, rowVersion: raw.rowVersion, deleted: raw.deleted === 1 }
      : undefined;
  }

  #selectRow(table: Table, pk: PrimaryKey): WireRow | undefined {
    const raw = this.#stmts!.tables.get(table.name)!.select.get(pk) as RawRow | undefined;
    return raw ? decodeRow(table, raw) : undefined;
  }
}

/**
 * The transaction of {@link SqliteStore.write}: runs statements synchronously on the write
 * connection, which the store's mutex reserves for it until the callback settles.
 */
class SqliteWriteTx implements BackendWriteTx {
  readonly userId: string;
  readonly #db: Db;
  readonly #schema: Schema;
  readonly #stmts: Statements;
  readonly #nowIso: string;
  #active = true;

  constructor(db: Db, schema: Schema, stmts: Statements, userId: string, now: Date) {
    this.#db = db;
    this.#schema = schema;
    this.#stmts = stmts;
    this.userId = userId;
    this.#nowIso = now.toISOString();
  }

  finish(): void {
    this.#active = false;
  }

  async upsert(table: string, row: WireRow): Promise<void> {
    this.#check();
    const t = this.#schema.table(table);
    const pk = t ? (row[t.primaryKey] as PrimaryKey) : (undefined as unknown as PrimaryKey);
    const validation = validateChanges(this.#schema, this.userId, [
      { table, pk, op: 'upsert', baseVersion: null, row },
    ]);
    if (!validation.ok) {
      throw new FerryError(
        'validation_failed',
        `invalid row: ${validation.errors.map((e) => e.message).join('; ')}`,
        { details: { errors: validation.errors } },
      );
    }
    const statements = this.#stmts.tables.get(table)!;
    this.#assertNotForeign(statements, pk);
    statements.upsert.run(encodeRow(statements, validation.changes[0]!.row!, this.#nowIso));
  }

  async delete(table: string, pk: PrimaryKey): Promise<void> {
    this.#check();
    const statements = this.#stmts.tables.get(table);
    if (!statements) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    this.#assertNotForeign(statements, pk);
    statements.remove.run(pk);
  }

  async get(table: string, pk: PrimaryKey): Promise<WireRow | undefined> {
    this.#check();
    const statements = this.#stmts.tables.get(table);
    if (!statements) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    const raw = statements.selectOwned.get(pk, this.userId) as RawRow | undefined;
    return raw ? decodeRow(statements.table, raw) : undefined;
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    this.#check();
    return { changes: this.#db.prepare(sql).run(...params).changes };
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    this.#check();
    return this.#db.prepare(sql).all(...params) as Record<string, unknown>[];
  }

  #check(): void {
    if (!this.#active) {
      throw new FerryError('closed', 'this write transaction has already finished');
    }
  }

  #assertNotForeign(statements: TableStatements, pk: PrimaryKey): void {
    const raw = statements.select.get(pk) as RawRow | undefined;
    if (raw && raw[statements.table.owner] !== this.userId) {
      throw new FerryError(
        'forbidden',
        `${statements.table.name} ${String(pk)} is not ${this.userId}'s`,
      );
    }
  }
}

/**
 * A snapshot on its own read connection: one read transaction from the first row to the last,
 * streamed in batches so memory stays bounded whatever the row count. `close()` ends the
 * transaction and closes the connection at any point, mid-read included (an open statement
 * iterator is finished first: SQLite refuses to commit or close under one).
 */
class SqliteSnapshot implements SnapshotReader {
  readonly snapshotBundleSeq: number;
  readonly token: string | null;
  readonly serverId: string;
  readonly #db: Db;
  readonly #ownsConnection: boolean;
  readonly #schema: Schema;
  readonly #userId: string;
  readonly #batchRows: number;
  readonly #onClose: () => void;
  readonly #materialised: SnapshotRow[][] | undefined;
  #reading: Generator<SnapshotRow[]> | undefined;
  #closed = false;

  constructor(
    db: Db,
    ownsConnection: boolean,
    schema: Schema,
    userId: string,
    batchRows: number,
    serverId: string,
    onClose: () => void,
  ) {
    this.serverId = serverId;
    this.#db = db;
    this.#ownsConnection = ownsConnection;
    this.#schema = schema;
    this.#userId = userId;
    this.#batchRows = batchRows;
    this.#onClose = onClose;
    // The seq and its token come from the same read transaction as the rows.
    const readState = () =>
      (db
        .prepare(
          'SELECT last_seq AS lastSeq, last_token AS lastToken FROM ferry_users WHERE user_id = ?',
        )
        .get(userId) as { lastSeq: number; lastToken: string | null } | undefined) ?? {
        lastSeq: 0,
        lastToken: null,
      };
    if (ownsConnection) {
      db.exec('BEGIN');
      const state = readState();
      this.snapshotBundleSeq = state.lastSeq;
      this.token = state.lastToken;
      this.#materialised = undefined;
    } else {
      // ':memory:' has one connection, shared with writers: read everything now.
      const { state, batches } = db.transaction(() => ({
        state: readState(),
        batches: [...this.#batches()],
      }))();
      this.snapshotBundleSeq = state.lastSeq;
      this.token = state.lastToken;
      this.#materialised = batches;
    }
  }

  async *rows(): AsyncIterable<readonly SnapshotRow[]> {
    if (this.#closed) throw new FerryError('closed', 'the snapshot is closed');
    if (this.#materialised) {
      yield* this.#materialised;
      return;
    }
    this.#reading = this.#batches();
    for (const batch of this.#reading) {
      yield batch;
      if (this.#closed) return;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#reading?.return(undefined);
      this.#reading = undefined;
      if (this.#ownsConnection) {
        try {
          if (this.#db.inTransaction) this.#db.exec('COMMIT');
        } finally {
          this.#db.close();
        }
      }
    } finally {
      this.#onClose();
    }
  }

  *#batches(): Generator<SnapshotRow[]> {
    let batch: SnapshotRow[] = [];
    for (const table of this.#schema.tables) {
      const columns = table.columns.map((c) => `t.${quoteIdent(c.name)}`).join(', ');
      const statement = this.#db.prepare(
        `SELECT ${columns}, r.row_version AS "ferry_row_version" FROM ${quoteIdent(table.name)} AS t JOIN ferry_rows AS r ON r.table_name = ? AND r.pk = t.${quoteIdent(table.primaryKey)} WHERE t.${quoteIdent(table.owner)} = ?`,
      );
      for (const raw of statement.iterate(table.name, this.#userId) as IterableIterator<RawRow>) {
        batch.push({
          table: table.name,
          pk: raw[table.primaryKey] as PrimaryKey,
          rowVersion: raw.ferry_row_version as number,
          row: decodeRow(table, raw),
        });
        if (batch.length >= this.#batchRows) {
          yield batch;
          batch = [];
        }
      }
    }
    if (batch.length > 0) yield batch;
  }
}

/**
 * Connection settings. WAL with synchronous NORMAL (durable at checkpoints, never corrupt); a
 * page cache of 64 MiB for the writer (less for readers); checkpoints every 16,384 pages instead of 1,000, because a bundle of random
 * UUID keys dirties pages all over the indexes and frequent checkpoints copy them again and
 * again (measured: about a third of the push time with the default).
 */
function configure(db: Db, busyTimeoutMs: number, cacheMiB = 64): void {
  db.pragma(`busy_timeout = ${Math.max(0, Math.floor(busyTimeoutMs))}`);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma(`cache_size = ${-cacheMiB * 1024}`);
  db.pragma('wal_autocheckpoint = 16384');
  db.pragma('journal_size_limit = 67108864');
}

function prepareStatements(db: Db, schema: Schema): Statements {
  const tables = new Map<string, TableStatements>();
  for (const table of schema.tables) {
    const t = quoteIdent(table.name);
    const pk = quoteIdent(table.primaryKey);
    const names = table.columns.map((c) => c.name);
    const list = names.map(quoteIdent).join(', ');
    const updates = table.columns
      .filter((c) => !c.isPrimaryKey && c.serverDerived !== 'insertTime')
      .map((c) => `${quoteIdent(c.name)} = excluded.${quoteIdent(c.name)}`);
    const conflictClause =
      updates.length > 0 ? `DO UPDATE SET ${updates.join(', ')}` : 'DO NOTHING';
    const children = new Map<string, Statement>();
    for (const reference of table.referencedBy) {
      children.set(
        `${reference.childTable}.${reference.column}`,
        db.prepare(
          `SELECT ${quoteIdent(schema.requireTable(reference.childTable).primaryKey)} FROM ${quoteIdent(reference.childTable)} WHERE ${quoteIdent(reference.column)} = ?`,
        ),
      );
    }
    tables.set(table.name, {
      table,
      upsertColumns: names,
      upsert: db.prepare(
        `INSERT INTO ${t} (${list}) VALUES (${names.map(() => '?').join(', ')}) ON CONFLICT (${pk}) ${conflictClause}`,
      ),
      remove: db.prepare(`DELETE FROM ${t} WHERE ${pk} = ?`),
      select: db.prepare(`SELECT ${list} FROM ${t} WHERE ${pk} = ?`),
      selectOwned: db.prepare(
        `SELECT ${list} FROM ${t} WHERE ${pk} = ? AND ${quoteIdent(table.owner)} = ?`,
      ),
      children,
    });
  }
  return {
    tables,
    rowState: db.prepare(
      'SELECT owner, row_version AS rowVersion, deleted FROM ferry_rows WHERE table_name = ? AND pk = ?',
    ),
    putRowState: db.prepare(
      'INSERT INTO ferry_rows (table_name, pk, owner, row_version, deleted) VALUES (?, ?, ?, ?, ?) ON CONFLICT (table_name, pk) DO UPDATE SET owner = excluded.owner, row_version = excluded.row_version, deleted = excluded.deleted',
    ),
    userState: db.prepare(`SELECT ${USER_STATE_COLUMNS} FROM ferry_users WHERE user_id = ?`),
    putUserSeq: db.prepare(
      'INSERT INTO ferry_users (user_id, last_seq, last_token) VALUES (?, ?, ?) ON CONFLICT (user_id) DO UPDATE SET last_seq = excluded.last_seq, last_token = excluded.last_token',
    ),
    source: db.prepare(
      'SELECT last_committed AS lastCommitted, bundle_seq AS bundleSeq, response, digest FROM ferry_sources WHERE user_id = ? AND source_id = ?',
    ),
    putSource: db.prepare(
      'INSERT INTO ferry_sources (user_id, source_id, last_committed, bundle_seq, response, digest) VALUES (?, ?, ?, ?, NULL, ?) ON CONFLICT (user_id, source_id) DO UPDATE SET last_committed = excluded.last_committed, bundle_seq = excluded.bundle_seq, response = NULL, digest = excluded.digest',
    ),
    bundle: db.prepare(
      'SELECT row_count AS rowCount, rows AS rowsJson, token FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?',
    ),
    bundleToken: db
      .prepare('SELECT token FROM ferry_bundles WHERE user_id = ? AND bundle_seq = ?')
      .pluck(),
    insertBundle: db.prepare(
      'INSERT INTO ferry_bundles (user_id, bundle_seq, source_id, source_bundle_id, row_count, rows, committed_at, token, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    captured: db.prepare('SELECT table_name, pk FROM ferry_capture ORDER BY seq'),
    clearCapture: db.prepare('DELETE FROM ferry_capture'),
    hasCapture: db.prepare('SELECT EXISTS (SELECT 1 FROM ferry_capture) AS pending'),
  };
}

/**
 * Adds the columns of later layouts that a file made with an older one lacks; see
 * {@link METADATA_UPGRADES}. Idempotent; runs in the open transaction.
 */
function upgradeMetadata(db: Db): void {
  const columnsOf = new Map<string, Set<string>>();
  for (const { table, column } of METADATA_UPGRADES) {
    let columns = columnsOf.get(table);
    if (!columns) {
      columns = new Set(
        db.prepare('SELECT name FROM pragma_table_info(?)').pluck().all(table) as string[],
      );
      columnsOf.set(table, columns);
    }
    if (!columns.has(column)) {
      db.exec(`ALTER TABLE ${quoteIdent(table)} ADD COLUMN ${quoteIdent(column)} TEXT`);
      columns.add(column);
    }
  }
}

function encodeRow(statements: TableStatements, row: WireRow, nowIso: string): unknown[] {
  const table = statements.table;
  return table.columns.map((column) =>
    column.serverDerived !== undefined ? nowIso : toSqliteValue(column.type, row[column.name]),
  );
}

function decodeRow(table: Table, raw: RawRow): WireRow {
  const row: WireRow = {};
  for (const column of table.columns)
    row[column.name] = fromSqliteValue(column.type, raw[column.name]);
  return row;
}

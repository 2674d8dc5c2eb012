import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import {
  FerryError,
  asSchemaHistory,
  declaredIndexesSql,
  type PrimaryKey,
  type Schema,
  type SchemaHistory,
  type Table,
  type WireRow,
} from '@ferry/protocol';
import { counterWrite } from '../../core/counter-writes.js';
import { decideCursor, type CursorState } from '../../core/decide-cursor.js';
import type { RowState } from '../../core/decide-push.js';
import { genesisToken, nextHistoryToken, pushDigest } from '../../core/history-token.js';
import { decidePruneThrough, type RetentionPolicy } from '../../core/decide-retention.js';
import { cursorRejection, danglingReferenceRejection } from '../../core/rejections.js';
import {
  defaultPushRules,
  runPush,
  type PushRules,
  keptResponseJson,
  replayOutcome,
  type PushTx,
  type RetainedBundle,
  type StoredSource,
} from '../../core/run-push.js';
import { fitsOnPage } from '../../core/page-bundles.js';
import { storedVersionOrThrow } from '../../core/stored-schema.js';
import { planBundles, type CapturedRow } from '../../core/plan-bundles.js';
import { rowKey } from '../../core/validate-changes.js';
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
  StoreMigrationPlan,
  SyncOutcome,
  WriteOutcome,
} from '../server-store.js';
import {
  METADATA_DDL,
  SQLITE_METADATA_VERSION,
  schemaDdl,
  sqliteMigrationSql,
} from './sqlite-ddl.js';
import { SqliteSnapshot } from './sqlite-snapshot.js';
import {
  NO_USER,
  configure,
  decodeRow,
  encodeRow,
  prepareReadStatements,
  prepareStatements,
  upgradeMetadata,
  type Db,
  type RawRow,
  type ReadStatements,
  type Statement,
  type Statements,
  type UserState,
} from './sqlite-statements.js';
import { allocateSqliteKeys } from './sqlite-keys.js';
import { SqliteWriteTx } from './sqlite-write-tx.js';

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

  async open(schemaOrHistory: Schema | SchemaHistory): Promise<void> {
    if (this.#db) throw new FerryError('invalid_argument', 'the store is already open');
    if (this.#closing) throw new FerryError('closed', 'the store is closed');
    const history = asSchemaHistory(schemaOrHistory);
    const schema = history.latest;
    if (!this.#memory) mkdirSync(dirname(this.#options.path), { recursive: true });
    const db = new Database(this.#options.path);
    try {
      configure(db, this.#options.busyTimeoutMs ?? 5_000);
      db.exec(METADATA_DDL);
      const meta = () =>
        new Map(
          (
            db.prepare('SELECT key, value FROM ferry_meta').all() as {
              key: string;
              value: string;
            }[]
          ).map((r) => [r.key, r.value]),
        );
      const put = db.prepare('INSERT OR REPLACE INTO ferry_meta (key, value) VALUES (?, ?)');
      const setUp = db.transaction(() => {
        const stored = meta();
        upgradeMetadata(db);
        put.run('metadata_version', SQLITE_METADATA_VERSION);
        let serverId = stored.get('server_id');
        if (serverId === undefined) {
          serverId = (this.#options.createServerId ?? randomUUID)();
          put.run('server_id', serverId);
        }
        const fingerprint = stored.get('schema_fingerprint');
        if (fingerprint === undefined) {
          db.exec(schemaDdl(schema));
          for (const table of schema.tables) db.exec(declaredIndexesSql(table).join(';\n'));
          this.#recordVersion(db, put, schema, 'created');
          return { serverId, at: schema };
        }
        const at = storedVersionOrThrow(
          { fingerprint, version: stored.get('schema_version') },
          history,
          this.#options.path,
        )!;
        if (at === schema) {
          db.exec(schemaDdl(schema));
          for (const table of schema.tables) db.exec(declaredIndexesSql(table).join(';\n'));
        }
        return { serverId, at };
      });
      const { serverId, at } = setUp.immediate();
      this.#serverId = serverId;
      this.#db = db;
      // One transaction per version; the rows a migration's SQL writes become bundles in it.
      for (const migration of history.migrations(at.version)) {
        const { statements, rebuilds } = sqliteMigrationSql(migration);
        if (rebuilds) db.pragma('foreign_keys = OFF');
        try {
          db.transaction(() => {
            for (const sql of statements) db.exec(sql);
            if (rebuilds) {
              const broken = db.pragma('foreign_key_check') as unknown[];
              if (broken.length > 0) {
                throw new FerryError(
                  'invalid_schema',
                  `the migration to version ${migration.to.version} leaves ${broken.length} broken reference(s)`,
                );
              }
            }
            this.#schema = migration.to;
            this.#stmts = prepareStatements(db, migration.to);
            this.#commitCaptured(null, new Date());
            this.#recordVersion(db, put, migration.to, 'migrated');
          }).immediate();
        } finally {
          if (rebuilds) db.pragma('foreign_keys = ON');
        }
      }
      this.#schema = schema;
      this.#stmts = prepareStatements(db, schema);
      const readDb = this.#memory ? db : new Database(this.#options.path, { fileMustExist: true });
      if (readDb !== db) configure(readDb, this.#options.busyTimeoutMs ?? 5_000, 16);
      this.#readDb = readDb;
      this.#read = prepareReadStatements(readDb);
    } catch (error) {
      if (db.open) db.close();
      this.#db = undefined;
      throw error;
    }
  }

  async migrationPlan(history: SchemaHistory): Promise<StoreMigrationPlan> {
    const to = history.latest.version;
    if (this.#memory || !existsSync(this.#options.path)) return { from: null, to, migrations: [] };
    const db = new Database(this.#options.path, { readonly: true, fileMustExist: true });
    try {
      const hasMeta = db
        .prepare("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'ferry_meta'")
        .get();
      const stored = new Map(
        hasMeta
          ? (
              db.prepare('SELECT key, value FROM ferry_meta').all() as {
                key: string;
                value: string;
              }[]
            ).map((r) => [r.key, r.value])
          : [],
      );
      const fingerprint = stored.get('schema_fingerprint');
      if (fingerprint === undefined) return { from: null, to, migrations: [] };
      const at = storedVersionOrThrow(
        { fingerprint, version: stored.get('schema_version') },
        history,
        this.#options.path,
      )!;
      return {
        from: at.version,
        to,
        migrations: history.migrations(at.version).map((migration) => ({
          version: migration.to.version,
          steps: migration.steps,
          sql: sqliteMigrationSql(migration).statements,
        })),
      };
    } finally {
      db.close();
    }
  }

  /** Records that the file now holds `schema` (its fingerprint, version and the migration log). */
  #recordVersion(db: Db, put: Statement, schema: Schema, how: 'created' | 'migrated'): void {
    put.run('schema_fingerprint', schema.fingerprint);
    put.run('schema_version', String(schema.version));
    db.prepare(
      'INSERT OR REPLACE INTO ferry_schema_versions (version, fingerprint, how, applied_at) VALUES (?, ?, ?, ?)',
    ).run(schema.version, schema.fingerprint, how, Date.now());
  }

  async push(input: PushInput): Promise<PushOutcome> {
    const digest = pushDigest(input.sentChanges ?? input.changes);
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
    const digest = pushDigest(push.sentChanges ?? push.changes);
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

  async snapshot(userId: string, after?: number): Promise<SnapshotReader> {
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
      after,
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
          // A tombstone lives as long as the history that can still reach it: a device behind
          // the pruned floor hydrates, one at or past it saw the delete (see decidePush).
          const purge = db.prepare(
            'DELETE FROM ferry_rows WHERE owner = ? AND deleted = 1 AND row_version <= ?',
          );
          let bundlesDeleted = 0;
          let tombstonesPurged = 0;
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
                  saveResponse.run(
                    keptResponseJson(answer.responseJson, answer.schemaVersion),
                    user.userId,
                    source.sourceId,
                  );
                }
              }
              mark.run(through, through, user.userId);
              bundlesDeleted += remove.run(user.userId, through).changes;
              tombstonesPurged += purge.run(user.userId, through).changes;
            }
          }
          const tombstones = (
            db.prepare('SELECT count(*) AS n FROM ferry_rows WHERE deleted = 1').get() as {
              n: number;
            }
          ).n;
          return { bundlesDeleted, tombstonesPurged, tombstones };
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
        const cursorAt = (after: number | undefined, token: string | undefined) =>
          after === undefined
            ? undefined
            : this.#cursorState(stmts.userState, stmts.bundleToken, input.userId, after, token)
                .cursor;
        return {
          source,
          cursor: cursorAt(input.pullAfter, input.pullAfterToken),
          bases: cursorAt(input.basesAt?.bundleSeq, input.basesAt?.token),
          tombstoneFloor: this.#userState(input.userId).prunedThrough,
        };
      },
      head: async (input) => {
        const { lastSeq, lastToken } = this.#userState(input.userId);
        return lastSeq === 0 || lastToken === null
          ? null
          : { bundleSeq: lastSeq, token: lastToken };
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
        const found = new Map<number, PrimaryKey[]>();
        for (const check of checks) {
          const { reference } = check;
          const statement = stmts.tables
            .get(reference.parentTable)!
            .children.get(`${reference.childTable}.${reference.column}`)!;
          found.set(check.index, [
            ...(found.get(check.index) ?? []),
            ...(statement.pluck(true).all(check.parentPk) as PrimaryKey[]),
          ]);
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
      allocateKeys: async (table, count) => allocateSqliteKeys(this.#db!, table, count),
      apply: async (changes, now) => {
        const nowIso = now.toISOString();
        for (const change of changes) {
          const statements = stmts.tables.get(change.table.name)!;
          if (change.op === 'upsert') {
            const { row, adds } = counterWrite(change);
            statements.upsert(change.writes!, adds).run(encodeRow(statements, row, nowIso));
          } else {
            statements.remove.run(change.pk);
          }
        }
      },
      queryReadOnly: async (sql, params) => {
        const statement = this.#db!.prepare(sql);
        if (!statement.reader || !statement.readonly) {
          throw new FerryError('invalid_argument', 'a hook may only run queries that read');
        }
        return statement.all(...params) as Record<string, unknown>[];
      },
      backendWrite: (userId, now) =>
        new SqliteWriteTx(this.#db!, this.#schema!, stmts, userId, now),
      seal: async (push) => {
        const { input, digest, states, tempKeys } = push;
        const result = this.#commitCaptured({ ...input, digest }, input.now, states, tempKeys);
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
    tempKeys?: ReadonlyMap<string, PrimaryKey>,
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
        tempKey: tempKeys?.get(key),
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

  /** The answer of a replay of the source's last committed push (see `replayOutcome`). */
  #storedResponse(userId: string, source: StoredSource): PushOutcome {
    const bundle =
      source.response === null
        ? (this.#stmts!.bundle.get(userId, source.bundleSeq) as RetainedBundle | undefined)
        : undefined;
    return replayOutcome(source, bundle);
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
          prunedThrough: state.prunedThrough,
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

import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import pg from 'pg';
import { FerryError, asSchemaHistory, type Schema, type SchemaHistory } from '@ferry/protocol';
import { pushDigest } from '../../core/history-token.js';
import { decideCursor } from '../../core/decide-cursor.js';
import { decidePruneThrough, type RetentionPolicy } from '../../core/decide-retention.js';
import { cursorRejection, danglingReferenceRejection } from '../../core/rejections.js';
import { keptResponseJson, runPush } from '../../core/run-push.js';
import { fitsOnPage } from '../../core/page-bundles.js';
import { pushResponseJson, type StoredBundle } from '../../core/wire-json.js';
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
import { CommitListener } from './commit-listener.js';
import { META_SCHEMA_PATTERN, NOW_SETTING, pgNames, type PgNames } from './postgres-ddl.js';
import { isConnectionError, isRetryable, mapPgError, storeUnavailable } from './postgres-errors.js';
import { named } from './named-query.js';
import type { AdoptProgress } from './postgres-adopt.js';
import { migrate, planPostgresMigrations } from './postgres-migrate.js';
import { PostgresSnapshot } from './postgres-snapshot.js';
import { storeSql, type StoreSql } from './postgres-sql.js';
import { PostgresWriteTx } from './postgres-write-tx.js';
import { PostgresPushTx, committedBundle, type SealedRow } from './postgres-push-tx.js';

/** Connection settings for the store's pool, when no connection string says it all. */
export interface PostgresPoolOptions {
  readonly host?: string;
  readonly port?: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  /** TLS: `true`, or options passed to `tls.connect`. */
  readonly ssl?: boolean | Readonly<Record<string, unknown>>;
  /** Most connections of this server instance (default 10). */
  readonly max?: number;
  /** Idle connections close after this long (default 30,000 ms). */
  readonly idleTimeoutMillis?: number;
  /** How long to wait for a connection before answering 503 (default 5,000 ms). */
  readonly connectionTimeoutMillis?: number;
  /** `statement_timeout` of every connection, in ms (default: none). */
  readonly statementTimeoutMs?: number;
}

/**
 * Hooks for tests only. They make the store slower or wrong on purpose; never set them in
 * production.
 */
export interface PostgresStoreTestHooks {
  /**
   * Milliseconds to sleep (`pg_sleep`) inside each push's transaction after its bundleSeq was
   * allocated, before commit: widens the window in which commits overlap.
   */
  readonly commitDelayMs?: () => number;
  /**
   * Deliberately broken allocation for negative-control tests: the push's bundleSeq is taken in
   * a transaction of its own, outside the user's lock, so commits can land out of seq order.
   */
  readonly allocateOutsideLock?: boolean;
}

/** Options of {@link createPostgresStore}. */
export interface PostgresStoreOptions {
  /** `postgres://user:password@host:port/database?…`; combined with `pool` when both are given. */
  readonly connectionString?: string;
  readonly pool?: PostgresPoolOptions;
  /** Schema of the sync metadata (default `ferry`): lower-case letters, digits, underscores. */
  readonly schemaName?: string;
  /**
   * Schema of the business tables (default: the connection's `current_schema()`, usually
   * `public`). When given, it is also put first on every connection's search_path.
   */
  readonly businessSchema?: string;
  /** Row lines per batch of a snapshot stream (default 500). */
  readonly snapshotBatchRows?: number;
  /** Bundles deleted per statement when pruning (default 1,000). */
  readonly pruneBatchBundles?: number;
  /** How long `ping()` waits for an answer (default 2,000 ms). */
  readonly pingTimeoutMs?: number;
  /** Attempts of a push that loses a race with a concurrent commit (default 8). */
  readonly maxPushAttempts?: number;
  /** Called with background problems (the LISTEN connection dropping and coming back). */
  readonly onEvent?: (event: PostgresStoreEvent) => void;
  /**
   * Makes the identity of a new database (default `crypto.randomUUID`); called once, by the
   * first `open` on a metadata schema that has none.
   */
  readonly createServerId?: () => string;
  /**
   * Adopt business tables that already exist (made by plain SQL or other code) on a database
   * without Ferry metadata: `open` checks them against the schema and, when any does not fit,
   * throws `adopt_mismatch` listing every mismatch (`details.mismatches`) and changes nothing;
   * else it creates the metadata, installs the capture and gives the existing rows their sync
   * state in short batches while other writers go on. Resumable: an interrupted adoption is
   * finished by the next `open` with this option (one without it refuses the database). On a
   * database Ferry already manages it changes nothing. See docs/postgres.md.
   */
  readonly adopt?: boolean;
  /** Rows per transaction when adopting (default 10,000). */
  readonly adoptBatchRows?: number;
  /** Test-only hooks; see {@link PostgresStoreTestHooks}. */
  readonly testHooks?: PostgresStoreTestHooks;
}

/** Something the store reports from the background. */
export type PostgresStoreEvent =
  | { readonly kind: 'listener_lost'; readonly error?: unknown }
  | { readonly kind: 'listener_restored' }
  | { readonly kind: 'adopting'; readonly progress: AdoptProgress };

/**
 * The PostgreSQL store: business tables as real PostgreSQL tables (uuid, text, bigint, double
 * precision, boolean, timestamptz, jsonb, foreign keys) in the business schema, sync metadata
 * in its own schema, any number of server instances on one database.
 *
 * 1. Every write to a business table, whoever makes it (a push, `write()`, a cascade, another
 *    trigger, plain SQL through psql), is captured by row triggers and sealed at commit into
 *    a bundle of each affected user, atomically with the write.
 * 2. A user's bundleSeq is allocated under the row lock of the user's sync-state row, held
 *    until commit, so a user's bundles commit in seq order and the highest committed seq is a
 *    safe pull horizon. Different users commit in parallel.
 * 3. Committed bundles are announced with NOTIFY; every instance LISTENs on a dedicated
 *    connection and pokes its event streams.
 * 4. Connection failures surface as `store_unavailable` (503); the pool and the listener
 *    reconnect by themselves when the database is back.
 *
 * @example
 * const store = createPostgresStore({ connectionString: process.env.DATABASE_URL });
 * const server = await createFerryServer({ schema, store, auth: { jwtSecret } });
 */
export function createPostgresStore(options: PostgresStoreOptions = {}): ServerStore {
  return new PostgresStore(options);
}

type Client = pg.PoolClient;

/** int8 as JS numbers: every bigint the store reads (seqs, versions) is a safe integer. */
const TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary'): unknown =>
    oid === 20
      ? (value: string) => Number(value)
      : (pg.types.getTypeParser as (oid: number, format: 'text' | 'binary') => unknown)(
          oid,
          format ?? 'text',
        )) as pg.CustomTypesConfig['getTypeParser'],
};

interface PushResult {
  readonly outcome: PushOutcome;
  readonly committed: readonly CommittedBundle[];
  /** The pull done inside the push's transaction (sync), or undefined when none was. */
  readonly pull: PullOutcome | undefined;
}

interface StepResult extends PushResult {
  readonly commit: boolean;
}

class PostgresStore implements ServerStore {
  readonly #options: PostgresStoreOptions;
  readonly #meta: string;
  readonly #instanceId = randomUUID();
  readonly #listeners = new Set<(bundles: readonly CommittedBundle[]) => void>();
  readonly #snapshots = new Set<PostgresSnapshot>();
  #pool: pg.Pool | undefined;
  #listener: CommitListener | undefined;
  #schema: Schema | undefined;
  #names: PgNames | undefined;
  #sql: StoreSql | undefined;
  #serverId: string | undefined;
  #opening = false;
  #closing: Promise<void> | undefined;
  #busy = 0;
  #idle: (() => void) | undefined;

  constructor(options: PostgresStoreOptions) {
    this.#options = options;
    this.#meta = options.schemaName ?? 'ferry';
    if (!META_SCHEMA_PATTERN.test(this.#meta)) {
      throw new FerryError(
        'invalid_argument',
        `schemaName must match ${String(META_SCHEMA_PATTERN)}, not ${JSON.stringify(this.#meta)}`,
      );
    }
  }

  async open(schemaOrHistory: Schema | SchemaHistory): Promise<void> {
    const history = asSchemaHistory(schemaOrHistory);
    const schema = history.latest;
    if (this.#pool || this.#opening) {
      throw new FerryError('invalid_argument', 'the store is already open');
    }
    if (this.#closing) throw new FerryError('closed', 'the store is closed');
    this.#opening = true;
    const pool = new pg.Pool(this.#connectionConfig(`ferry:${this.#meta}`, true));
    // Idle connections that die (database restart) are dropped by the pool; nothing to do.
    pool.on('error', () => undefined);
    let listener: CommitListener | undefined;
    try {
      const names = await this.#namesOn(pool);
      const migrated = await this.#withPoolClient(pool, (client) =>
        migrate(
          client,
          history,
          names,
          this.#options.createServerId,
          this.#options.adopt === true
            ? {
                ...(this.#options.adoptBatchRows !== undefined
                  ? { batchRows: this.#options.adoptBatchRows }
                  : {}),
                onProgress: (progress) => this.#options.onEvent?.({ kind: 'adopting', progress }),
              }
            : undefined,
        ),
      );
      listener = new CommitListener({
        config: this.#connectionConfig(`ferry-listen:${this.#meta}`, false),
        channel: names.channel,
        onNotification: (payload) => this.#onNotification(payload),
        onStateChange: (state, error) =>
          this.#options.onEvent?.(
            state === 'lost' ? { kind: 'listener_lost', error } : { kind: 'listener_restored' },
          ),
      });
      await listener.start();
      this.#schema = schema;
      this.#names = names;
      this.#serverId = migrated.serverId;
      this.#sql = storeSql(schema, names);
      this.#listener = listener;
      this.#pool = pool;
    } catch (error) {
      await listener?.close();
      await pool.end().catch(() => undefined);
      throw mapPgError(error);
    } finally {
      this.#opening = false;
    }
  }

  get serverId(): string | undefined {
    return this.#serverId;
  }

  async push(input: PushInput): Promise<PushOutcome> {
    const digest = pushDigest(input.sentChanges ?? input.changes);
    const result = await this.#track(() => this.#pushWithRetries(input, digest, undefined));
    this.#emit(result.committed);
    return result.outcome;
  }

  async pull(input: PullInput): Promise<PullOutcome> {
    return this.#track(() => this.#read((client) => this.#pullOn(client, input)));
  }

  async sync(input: { push: PushInput | null; pull: PullInput; now: Date }): Promise<SyncOutcome> {
    if (!input.push) return { push: null, pull: await this.pull(input.pull) };
    const push = { ...input.push, pullAfter: input.pull.after, pullAfterToken: input.pull.token };
    const digest = pushDigest(push.sentChanges ?? push.changes);
    const result = await this.#track(() => this.#pushWithRetries(push, digest, input.pull));
    this.#emit(result.committed);
    if (result.pull !== undefined) return { push: result.outcome, pull: result.pull };
    if (result.outcome.kind === 'rejected') return { push: result.outcome, pull: null };
    // A replay or a conflict committed nothing: pull on its own.
    return { push: result.outcome, pull: await this.pull(input.pull) };
  }

  /** Half the pool: snapshots held open by slow readers never take every connection. */
  get maxSnapshotReaders(): number {
    return Math.max(1, Math.floor((this.#options.pool?.max ?? 10) / 2));
  }

  async snapshot(userId: string, after?: number): Promise<SnapshotReader> {
    return this.#track(async () => {
      const { pool, schema, sql } = this.#live();
      let client: Client;
      try {
        client = await pool.connect();
      } catch (error) {
        throw mapPgError(error);
      }
      let failure: unknown;
      const onError = (error: unknown) => (failure ??= error);
      client.on('error', onError);
      let released = false;
      const release = (error?: unknown) => {
        if (released) return;
        released = true;
        client.off('error', onError);
        const broken = error ?? failure;
        client.release(broken === undefined ? undefined : toError(broken));
      };
      try {
        await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
        // The seq, its token and what judges the client's `after` come from the transaction's
        // view, as every row after them.
        const { rows } = await client.query<{
          last_seq: number;
          last_token: string | null;
          pruned_through: number;
          pruned_token: string | null;
          after_token: string | null;
        }>(named(sql.snapshotHead, [userId, after ?? 0]));
        const head = rows[0];
        const snapshot: PostgresSnapshot = new PostgresSnapshot({
          client,
          release,
          schema,
          sql,
          userId,
          snapshotBundleSeq: head?.last_seq ?? 0,
          token: head?.last_token ?? null,
          cursor:
            after === undefined
              ? undefined
              : {
                  lastSeq: head?.last_seq ?? 0,
                  prunedThrough: head?.pruned_through ?? 0,
                  prunedToken: head?.pruned_token ?? null,
                  afterToken: head?.after_token ?? null,
                },
          serverId: this.#serverId!,
          batchRows: this.#options.snapshotBatchRows ?? 500,
          onClose: () => this.#snapshots.delete(snapshot),
        });
        this.#snapshots.add(snapshot);
        return snapshot;
      } catch (error) {
        release(error);
        throw mapPgError(error);
      }
    });
  }

  async write<T>(
    userId: string,
    fn: (tx: BackendWriteTx) => Promise<T> | T,
  ): Promise<WriteOutcome<T>> {
    if (typeof userId !== 'string' || userId.length === 0) {
      throw new FerryError('invalid_argument', 'write needs a non-empty userId');
    }
    const result = await this.#track(() =>
      this.#withClient(async (client) => {
        const { schema, sql } = this.#live();
        const now = new Date();
        await client.query(`BEGIN; SET LOCAL ${NOW_SETTING} = '${now.toISOString()}'`);
        const tx = new PostgresWriteTx(client, schema, sql, userId);
        try {
          const value = await fn(tx);
          tx.finish();
          const sealed = await client.query<SealedRow>(
            named(sql.sealWrite, [now, this.#instanceId]),
          );
          await client.query('COMMIT');
          return { value, bundles: sealed.rows.map(committedBundle) };
        } catch (error) {
          tx.finish();
          await client.query('ROLLBACK').catch(() => undefined);
          throw error;
        }
      }),
    );
    this.#emit(result.bundles);
    return result;
  }

  /**
   * Triggers turn outside writes into bundles as they commit, so there is nothing to drain;
   * this waits until the listener has heard every bundle committed before the call.
   */
  async drainExternal(): Promise<readonly CommittedBundle[]> {
    if (!this.#pool || this.#closing) return [];
    await this.#listener?.sync();
    return [];
  }

  async lastBundleSeq(userId: string): Promise<number> {
    return this.#track(() =>
      this.#read(async (client) => {
        const { rows } = await client.query<{ last_seq: number }>(
          named(this.#live().sql.lastSeq, [userId]),
        );
        return rows[0]?.last_seq ?? 0;
      }),
    );
  }

  /**
   * Prunes user by user, each step its own short transaction: raise the user's
   * `pruned_through` (pulls behind it get 410 from then on), save the answer of each source
   * whose last bundle goes away (so replays stay exact), then delete the bundles in batches of
   * `pruneBatchBundles`. A push waits at most for one of these small statements.
   */
  async prune(policy: RetentionPolicy, now: Date): Promise<PruneOutcome> {
    return this.#track(async () => {
      const { sql } = this.#live();
      const batch = this.#options.pruneBatchBundles ?? 1_000;
      const cutoff =
        policy.maxAgeMs === undefined ? null : new Date(now.getTime() - policy.maxAgeMs);
      let bundlesDeleted = 0;
      let tombstonesPurged = 0;
      let afterUser = '';
      for (;;) {
        const users = await this.#read(
          async (client) =>
            (
              await client.query<{
                user_id: string;
                last_seq: number;
                pruned_through: number;
                newest_expired: number | null;
              }>(named(sql.usersToPrune, [afterUser, 500, cutoff]))
            ).rows,
        );
        if (users.length === 0) break;
        afterUser = users.at(-1)!.user_id;
        for (const user of users) {
          const through = decidePruneThrough(
            {
              lastSeq: user.last_seq,
              prunedThrough: user.pruned_through,
              newestExpiredSeq: user.newest_expired ?? undefined,
            },
            policy,
          );
          if (through <= user.pruned_through) continue;
          const pruned = await this.#pruneUser(user.user_id, through, batch);
          bundlesDeleted += pruned.bundles;
          tombstonesPurged += pruned.tombstones;
        }
      }
      const tombstones = await this.#read(
        async (client) =>
          (await client.query<{ n: number }>(named(sql.countTombstones, []))).rows[0]!.n,
      );
      return { bundlesDeleted, tombstonesPurged, tombstones };
    });
  }

  onCommit(listener: (bundles: readonly CommittedBundle[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async ping(): Promise<void> {
    this.#live();
    const timeoutMs = this.#options.pingTimeoutMs ?? 2_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(storeUnavailable(new Error(`no answer within ${timeoutMs} ms`))),
        timeoutMs,
      );
    });
    try {
      await Promise.race([this.#read((client) => client.query('SELECT 1')), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#busy > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
      await Promise.all([...this.#snapshots].map((s) => s.close()));
      await this.#listener?.close();
      await this.#pool?.end().catch(() => undefined);
      this.#listener = undefined;
      this.#pool = undefined;
      this.#listeners.clear();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  // ---------------------------------------------------------------------------------------
  // push

  async #pushWithRetries(
    input: PushInput,
    digest: string,
    pull: PullInput | undefined,
  ): Promise<PushResult> {
    const attempts = Math.max(1, this.#options.maxPushAttempts ?? 8);
    let foreignKeyFailures = 0;
    for (let attempt = 1; ; attempt++) {
      const progress = { commitSent: false };
      try {
        return await this.#withClient((client) =>
          this.#pushTransaction(client, input, digest, pull, progress),
        );
      } catch (error) {
        // A connection lost during COMMIT leaves the outcome unknown: the client retries the
        // same sourceBundleId and gets either the commit's stored answer or a fresh commit.
        if (progress.commitSent && isConnectionError(error)) throw storeUnavailable(error);
        // A foreign key the pre-checks could not see: once, it may be a race with a concurrent
        // commit (run again, decide again); twice, the bundle itself breaks a reference (a
        // cascade running into a restrict further down): 422, like the SQLite store.
        if ((error as { code?: unknown }).code === '23503' && ++foreignKeyFailures > 1) {
          return {
            outcome: danglingReferenceRejection(input.changes),
            committed: [],
            pull: undefined,
          };
        }
        const again = isRetryable(error) || isConnectionError(error);
        if (!again) throw mapPgError(error);
        if (attempt >= attempts) {
          if (isConnectionError(error)) throw storeUnavailable(error);
          throw new FerryError(
            'unavailable',
            `the push lost ${attempts} races with concurrent commits; retry`,
            { cause: error },
          );
        }
        await sleep(Math.min(200, 2 ** attempt + Math.random() * 10));
      }
    }
  }

  async #pushTransaction(
    client: Client,
    input: PushInput,
    digest: string,
    pull: PullInput | undefined,
    progress: { commitSent: boolean },
  ): Promise<PushResult> {
    await client.query(`BEGIN; SET LOCAL ${NOW_SETTING} = '${input.now.toISOString()}'`);
    let result: StepResult;
    try {
      result = await this.#pushSteps(client, input, digest, pull);
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
    if (result.commit) {
      progress.commitSent = true;
      await client.query('COMMIT');
    } else {
      await client.query('ROLLBACK');
    }
    return result;
  }

  async #pushSteps(
    client: Client,
    input: PushInput,
    digest: string,
    pull: PullInput | undefined,
  ): Promise<StepResult> {
    const { schema, sql } = this.#live();
    const tx = new PostgresPushTx(client, schema, sql, {
      instanceId: this.#instanceId,
      testHooks: this.#options.testHooks,
      pool: this.#pool!,
    });
    const run = await runPush(tx, schema, input, digest);
    const refused = (outcome: PushOutcome) => ({
      outcome,
      committed: [],
      pull: undefined,
      commit: false,
    });
    if (!run.commit) return refused(run.outcome);
    if (!pull) return { ...run, pull: undefined };
    // Inside the transaction, holding the user's lock: pruning cannot move the cursor now, and
    // a 410 found here rolls the push back instead of hiding it.
    const page = await this.#pullOn(client, pull);
    if (page.kind === 'rejected') return refused(page);
    return { ...run, pull: page };
  }

  // ---------------------------------------------------------------------------------------
  // pull and prune

  async #pullOn(client: Client, input: PullInput): Promise<PullOutcome> {
    const { rows } = await client.query<{
      last_seq: number;
      pruned_through: number;
      pruned_token: string | null;
      after_token: string | null;
      bundle_seq: number | null;
      source_id: string | null;
      source_bundle_id: number | null;
      row_count: number;
      rows: string;
      token: string | null;
      digest: string | null;
      schema_version: number | null;
    }>(named(this.#sql!.pull, [input.userId, input.after, input.limit]));
    const head = rows[0]!;
    const state = { lastSeq: head.last_seq, prunedThrough: head.pruned_through };
    const cursor = decideCursor(
      { after: input.after, token: input.token },
      { ...state, prunedToken: head.pruned_token, afterToken: head.after_token },
    );
    if (cursor) {
      return cursorRejection(cursor, input.after);
    }
    const bundles: StoredBundle[] = [];
    let taken = 0;
    let lastTaken = input.after;
    for (const row of rows) {
      if (row.bundle_seq === null) continue;
      if (!fitsOnPage({ bundles: bundles.length, rows: taken }, row.row_count, input.limit)) break;
      bundles.push({
        bundleSeq: row.bundle_seq,
        sourceId: row.source_id,
        sourceBundleId: row.source_bundle_id,
        rowCount: row.row_count,
        rowsJson: row.rows,
        token: row.token,
        digest: row.digest,
        schemaVersion: row.schema_version,
      });
      taken += row.row_count;
      lastTaken = row.bundle_seq;
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
  }

  async #pruneUser(
    userId: string,
    through: number,
    batch: number,
  ): Promise<{ bundles: number; tombstones: number }> {
    const { sql } = this.#live();
    return this.#read(async (client) => {
      await client.query(named(sql.markPruned, [userId, through]));
      const { rows: sources } = await client.query<{
        source_id: string;
        last_committed: number;
        bundle_seq: number;
        rows: string;
        token: string | null;
        schema_version: number | null;
      }>(named(sql.orphanedSources, [userId, through]));
      for (const source of sources) {
        await client.query(
          named(sql.saveResponse, [
            userId,
            source.source_id,
            source.bundle_seq,
            keptResponseJson(
              pushResponseJson(source.last_committed, source.bundle_seq, source.rows, source.token),
              source.schema_version,
            ),
          ]),
        );
      }
      const { rows } = await client.query<{ oldest: number | null }>(
        named(sql.oldestBundle, [userId]),
      );
      let deleted = 0;
      for (let from = rows[0]?.oldest ?? through + 1; from <= through; from += batch) {
        const result = await client.query(
          named(sql.deleteBundles, [userId, from, Math.min(through, from + batch - 1)]),
        );
        deleted += result.rowCount ?? 0;
      }
      // A tombstone lives as long as the history that can still reach it (see decidePush).
      const purged = await client.query(named(sql.purgeTombstones, [userId, through]));
      return { bundles: deleted, tombstones: purged.rowCount ?? 0 };
    });
  }

  // ---------------------------------------------------------------------------------------
  // plumbing

  #live(): { pool: pg.Pool; schema: Schema; sql: StoreSql; names: PgNames } {
    if (this.#closing) throw new FerryError('closed', 'the store is closed');
    if (!this.#pool || !this.#schema || !this.#sql || !this.#names) {
      throw new FerryError('store_unavailable', 'the store is not open (call open(schema) first)');
    }
    return { pool: this.#pool, schema: this.#schema, sql: this.#sql, names: this.#names };
  }

  /** Runs `fn` as work that `close()` waits for. */
  async #track<T>(fn: () => Promise<T>): Promise<T> {
    this.#live();
    this.#busy++;
    try {
      return await fn();
    } finally {
      if (--this.#busy === 0) this.#idle?.();
    }
  }

  /** A read: once more on a fresh connection when the first one turns out to be dead. */
  async #read<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#withClient(fn);
      } catch (error) {
        if (attempt < 2 && isConnectionError(error)) continue;
        throw mapPgError(error);
      }
    }
  }

  #withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
    return this.#withPoolClient(this.#live().pool, fn);
  }

  /**
   * Checks a connection out, with an error listener for its whole checkout (an unhandled
   * 'error' event would end the process); a connection that failed is destroyed, not reused.
   */
  async migrationPlan(history: SchemaHistory): Promise<StoreMigrationPlan> {
    const pool = new pg.Pool({ ...this.#connectionConfig(`ferry:${this.#meta}`, true), max: 1 });
    pool.on('error', () => undefined);
    try {
      const names = await this.#namesOn(pool);
      return await this.#withPoolClient(pool, (client) =>
        planPostgresMigrations(client, history, names),
      );
    } finally {
      await pool.end();
    }
  }

  /** The store's schema names: the business schema is the option, else the connection's. */
  async #namesOn(pool: pg.Pool): Promise<PgNames> {
    const business =
      this.#options.businessSchema ??
      (await this.#withPoolClient(pool, async (client) => {
        const { rows } = await client.query<{ schema: string | null }>(
          'SELECT current_schema() AS schema',
        );
        return rows[0]?.schema ?? undefined;
      }));
    if (!business) {
      throw new FerryError(
        'invalid_argument',
        'the connection has no current schema (empty search_path); set businessSchema',
      );
    }
    return pgNames(this.#meta, business);
  }

  async #withPoolClient<T>(pool: pg.Pool, fn: (client: Client) => Promise<T>): Promise<T> {
    let client: Client;
    try {
      client = await pool.connect();
    } catch (error) {
      throw mapPgError(error);
    }
    let broken: unknown;
    const onError = (error: unknown) => (broken ??= error);
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (error) {
      if (isConnectionError(error)) broken ??= error;
      throw error;
    } finally {
      client.off('error', onError);
      client.release(broken === undefined ? undefined : toError(broken));
    }
  }

  #connectionConfig(applicationName: string, pooled: boolean): pg.PoolConfig {
    const pool = this.#options.pool ?? {};
    const config: pg.PoolConfig = {
      application_name: applicationName,
      keepAlive: true,
      types: TYPES,
      connectionTimeoutMillis: pool.connectionTimeoutMillis ?? 5_000,
    };
    if (this.#options.connectionString !== undefined) {
      config.connectionString =
        pool.user === undefined
          ? withDefaultUser(this.#options.connectionString)
          : this.#options.connectionString;
    }
    if (pool.host !== undefined) config.host = pool.host;
    if (pool.port !== undefined) config.port = pool.port;
    if (pool.user !== undefined) config.user = pool.user;
    else if (this.#options.connectionString === undefined) config.user = defaultUser();
    if (pool.password !== undefined) config.password = pool.password;
    if (pool.database !== undefined) config.database = pool.database;
    if (pool.ssl !== undefined) config.ssl = pool.ssl;
    if (pool.statementTimeoutMs !== undefined && pooled) {
      config.statement_timeout = pool.statementTimeoutMs;
    }
    if (this.#options.businessSchema !== undefined) {
      const escaped = `"${this.#options.businessSchema.replaceAll('"', '""')}"`
        .replaceAll('\\', '\\\\')
        .replaceAll(' ', '\\ ');
      config.options = `-c search_path=${escaped},public`;
    }
    if (pooled) {
      config.max = pool.max ?? 10;
      config.idleTimeoutMillis = pool.idleTimeoutMillis ?? 30_000;
    }
    return config;
  }

  #onNotification(payload: string): void {
    let message: { u?: unknown; s?: unknown; n?: unknown; o?: unknown; i?: unknown };
    try {
      message = JSON.parse(payload) as typeof message;
    } catch {
      return;
    }
    // This instance's own commits were announced when they committed.
    if (message.i === this.#instanceId) return;
    if (typeof message.u !== 'string' || !Number.isSafeInteger(message.s)) return;
    this.#emit([
      {
        userId: message.u,
        bundleSeq: message.s as number,
        rowCount: Number.isSafeInteger(message.n) ? (message.n as number) : 0,
        origin: message.o === 'push' ? 'push' : 'backend',
        remote: true,
      },
    ]);
  }

  #emit(bundles: readonly CommittedBundle[]): void {
    if (bundles.length === 0) return;
    for (const listener of this.#listeners) {
      try {
        listener(bundles);
      } catch {
        // a listener's failure is its own; the commit stands
      }
    }
  }
}

/**
 * The user libpq would pick when none is named: PGUSER, else USER, else the OS account (pg
 * itself only reads USER, which is missing in some service environments).
 */
export function defaultUser(): string {
  return process.env.PGUSER || process.env.USER || userInfo().username;
}

/** A `postgres://` URL that names no user gets {@link defaultUser}; anything else is kept. */
export function withDefaultUser(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    if (!/^postgres(?:ql)?:$/.test(url.protocol)) return connectionString;
    if (url.username !== '' || url.searchParams.has('user')) return connectionString;
    url.username = encodeURIComponent(defaultUser());
    return url.toString();
  } catch {
    return connectionString;
  }
}

function toError(value: unknown): Error {
  return value instanceof Error ? value : new Error(String(value));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

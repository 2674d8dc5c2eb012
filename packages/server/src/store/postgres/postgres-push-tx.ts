/**
 * The steps of `runPush` on one pooled connection inside its push transaction: the source's row
 * lock and cursor state in one statement, row states and restricting children in one statement
 * each, consecutive changes of a table and op in one statement, and `seal()` (PL/pgSQL) for the
 * bundles. No protocol decision is taken here.
 *
 * @module
 */
import type pg from 'pg';
import {
  type HistoryPoint,
  type PrimaryKey,
  type Schema,
  type Table,
  type WireRow,
} from '@ferry/protocol';
import { counterWrite } from '../../core/counter-writes.js';
import type { CursorState } from '../../core/decide-cursor.js';
import type { RestrictCheck, RowRef, RowState } from '../../core/decide-push.js';
import {
  replayOutcome,
  type DecidedPush,
  type LockedSource,
  type PushTx,
  type SealedPush,
  type StoredSource,
} from '../../core/run-push.js';
import { rowKey, type NormalizedChange } from '../../core/validate-changes.js';
import { pushResponseJson } from '../../core/wire-json.js';
import type { CommittedBundle, PushInput, PushOutcome } from '../server-store.js';
import { named } from './named-query.js';
import { allocatePgKeys } from './postgres-keys.js';
import { pgValueErrors } from './pg-value-errors.js';
import type { PostgresStoreTestHooks } from './postgres-store.js';
import { upsertQuery, writesKey, type StoreSql } from './postgres-sql.js';
import { PostgresWriteTx } from './postgres-write-tx.js';
import { Mutex } from '../../mutex.js';

type Client = pg.PoolClient;

/** What a {@link PostgresPushTx} needs of its store besides the connection. */
export interface PushTxOptions {
  /** The store instance's id, in the NOTIFY payloads of its bundles. */
  readonly instanceId: string;
  readonly testHooks: PostgresStoreTestHooks | undefined;
  /** For the negative control that allocates a seq outside the lock. */
  readonly pool: pg.Pool;
}

export class PostgresPushTx implements PushTx {
  readonly #client: Client;
  readonly #sql: StoreSql;
  readonly #options: PushTxOptions;
  readonly #schema: Schema;
  readonly #reads = new Mutex();

  constructor(client: Client, schema: Schema, sql: StoreSql, options: PushTxOptions) {
    this.#client = client;
    this.#schema = schema;
    this.#sql = sql;
    this.#options = options;
  }

  async allocateKeys(table: Table, count: number): Promise<readonly number[]> {
    return allocatePgKeys(this.#client, this.#sql, table, count);
  }

  async lockSource(input: PushInput): Promise<LockedSource> {
    const sql = this.#sql;
    const client = this.#client;
    const row = (
      await client.query<{
        last_committed: number;
        bundle_seq: number;
        response: string | null;
        digest: string | null;
        last_seq: number;
        pruned_through: number;
        pruned_token: string | null;
        after_token: string | null;
        bases_token: string | null;
      }>(
        named(sql.lockSource, [
          input.userId,
          input.sourceId,
          input.pullAfter ?? null,
          input.basesAt?.bundleSeq ?? null,
        ]),
      )
    ).rows[0]!;
    const cursorWith = (afterToken: string | null): CursorState => ({
      lastSeq: row.last_seq,
      prunedThrough: row.pruned_through,
      prunedToken: row.pruned_token,
      afterToken,
    });
    return {
      source: {
        lastCommitted: row.last_committed,
        bundleSeq: row.bundle_seq,
        response: row.response,
        digest: row.digest,
      },
      cursor: input.pullAfter === undefined ? undefined : cursorWith(row.after_token),
      bases: input.basesAt === undefined ? undefined : cursorWith(row.bases_token),
      tombstoneFloor: row.pruned_through,
    };
  }

  async head(input: PushInput): Promise<HistoryPoint | null> {
    const { rows } = await this.#client.query<{ last_seq: number; last_token: string | null }>(
      named(this.#sql.head, [input.userId]),
    );
    const row = rows[0];
    return row === undefined || row.last_token === null
      ? null
      : { bundleSeq: row.last_seq, token: row.last_token };
  }

  unstorable(changes: readonly NormalizedChange[]) {
    return pgValueErrors(changes);
  }

  async readRows(table: Table, pks: readonly PrimaryKey[]): Promise<ReadonlyMap<string, WireRow>> {
    const client = this.#client;
    const sql = this.#sql;
    const { rows } = await client.query<{ pk_json: string; j: string }>(
      named(sql.tables.get(table.name)!.selectMany, [pks]),
    );
    return new Map(
      rows.map((row) => [
        rowKey(table.name, JSON.parse(row.pk_json) as PrimaryKey),
        JSON.parse(row.j) as WireRow,
      ]),
    );
  }

  /** Reads the sync state of rows, keyed by {@link rowKey}; a missing key never existed. */
  async readRowStates(refs: readonly RowRef[]): Promise<Map<string, RowState>> {
    const client = this.#client;
    const states = new Map<string, RowState>();
    if (refs.length === 0) return states;
    const { rows } = await client.query<{
      table_name: string;
      pk: string;
      owner: string;
      row_version: number;
      deleted: boolean;
    }>(named(this.#sql.rowStates, [refs.map((r) => r.table), refs.map((r) => String(r.pk))]));
    const byText = new Map(rows.map((r) => [`${r.table_name}\u0000${r.pk}`, r]));
    for (const ref of refs) {
      const raw = byText.get(`${ref.table}\u0000${String(ref.pk)}`);
      if (raw) {
        states.set(ref.key, {
          owner: raw.owner,
          rowVersion: raw.row_version,
          deleted: raw.deleted,
        });
      }
    }
    return states;
  }

  async findRestrictedChildren(
    checks: readonly RestrictCheck[],
  ): Promise<Map<number, PrimaryKey[]>> {
    const client = this.#client;
    const result = new Map<number, PrimaryKey[]>();
    const byReference = new Map<string, RestrictCheck[]>();
    for (const check of checks) {
      const name = `${check.reference.childTable}.${check.reference.column}`;
      byReference.set(name, [...(byReference.get(name) ?? []), check]);
    }
    for (const [name, group] of byReference) {
      const reference = group[0]!.reference;
      const statement = this.#sql.tables.get(reference.parentTable)!.children.get(name)!;
      const { rows } = await client.query<{ parent: string; pk_json: string }>(
        named(statement, [group.map((c) => c.parentPk)]),
      );
      const byParent = new Map<string, PrimaryKey[]>();
      for (const row of rows) {
        const pk = JSON.parse(row.pk_json) as PrimaryKey;
        byParent.set(row.parent, [...(byParent.get(row.parent) ?? []), pk]);
      }
      for (const check of group) {
        const children = byParent.get(String(check.parentPk)) ?? [];
        result.set(check.index, [...(result.get(check.index) ?? []), ...children]);
      }
    }
    return result;
  }

  /**
   * Writes the decided changes, consecutive changes of one table, op and written columns (and
   * counters added to) in one statement.
   */
  async apply(changes: readonly NormalizedChange[]): Promise<void> {
    const client = this.#client;
    // What each upsert writes, once: its row (deltas in place of counters) and the counters it
    // adds to; consecutive changes of one shape share a statement.
    const written = changes.map((c) => (c.op === 'upsert' ? counterWrite(c) : undefined));
    const shapes = changes.map((c, i) =>
      c.op === 'delete' ? '' : writesKey(c.writes!, written[i]!.adds),
    );
    for (let start = 0; start < changes.length;) {
      const first = changes[start]!;
      let end = start + 1;
      while (
        end < changes.length &&
        changes[end]!.table === first.table &&
        changes[end]!.op === first.op &&
        shapes[end] === shapes[start]
      ) {
        end++;
      }
      const statements = this.#sql.tables.get(first.table.name)!;
      if (first.op === 'upsert') {
        await client.query(
          upsertQuery(
            statements,
            first.writes!,
            written.slice(start, end).map((w) => w!.row),
            written[start]!.adds,
          ),
        );
      } else {
        await client.query(named(statements.remove, [changes.slice(start, end).map((c) => c.pk)]));
      }
      start = end;
    }
  }

  /**
   * In a savepoint made read-only for the one statement (a write fails with 25006), rolled back
   * after it, so neither a write nor a failed query touches the push's transaction. One at a
   * time: hooks that query in parallel wait for each other on the one connection.
   */
  async queryReadOnly(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]> {
    return this.#reads.run(async () => {
      const client = this.#client;
      await client.query('SAVEPOINT ferry_hook_read; SET LOCAL transaction_read_only = on');
      try {
        return (await client.query(sql, [...params])).rows as Record<string, unknown>[];
      } finally {
        await client.query(
          'ROLLBACK TO SAVEPOINT ferry_hook_read; RELEASE SAVEPOINT ferry_hook_read',
        );
      }
    });
  }

  backendWrite(userId: string): PostgresWriteTx {
    return new PostgresWriteTx(this.#client, this.#schema, this.#sql, userId);
  }

  async replayAnswer(input: PushInput, source: StoredSource): Promise<PushOutcome> {
    if (source.response !== null) return replayOutcome(source, undefined);
    // The source's row lock keeps pruning from saving the answer and deleting the bundle now.
    const { rows } = await this.#client.query<{
      rows: string;
      row_count: number;
      token: string | null;
      schema_version: number | null;
    }>(named(this.#sql.bundleRows, [input.userId, source.bundleSeq]));
    const bundle = rows[0];
    return replayOutcome(
      source,
      bundle && {
        rowsJson: bundle.rows,
        rowCount: bundle.row_count,
        token: bundle.token,
        schemaVersion: bundle.schema_version,
      },
    );
  }

  /**
   * Seals a push in one statement (`seal`, PL/pgSQL): bundles of every affected user, the
   * source's record, the user's seq and token.
   */
  async seal(push: DecidedPush): Promise<SealedPush> {
    const client = this.#client;
    const { input, digest, changes, states } = push;
    const sql = this.#sql;
    const hooks = this.#options.testHooks;
    let forcedSeq: number | null = null;
    if (hooks?.allocateOutsideLock) {
      // Negative control: a seq taken in its own transaction, visible before this commit.
      const { rows } = await this.#options.pool.query<{ last_seq: number }>(
        named(sql.bumpSeqOutside, [input.userId]),
      );
      forcedSeq = rows[0]!.last_seq;
    }
    const sealed = await client.query<SealedRow & { out_rows: string; out_token: string }>(
      named(sql.sealPush, [
        input.userId,
        input.sourceId,
        input.sourceBundleId,
        input.now,
        this.#options.instanceId,
        forcedSeq,
        // The states the decision was made on: seal refuses (40001) when a concurrent commit
        // changed one of these rows before this transaction wrote it; the push then runs again.
        ...decidedStates(changes, states),
        digest,
        ...temporaryKeys(changes, push.tempKeys),
      ]),
    );
    const delayMs = hooks?.commitDelayMs?.() ?? 0;
    if (delayMs > 0) await client.query('SELECT pg_sleep($1)', [delayMs / 1000]);
    const own = sealed.rows.find((row) => row.out_user === input.userId)!;
    return {
      own: {
        bundleSeq: own.out_seq,
        rowCount: own.out_count,
        responseJson: pushResponseJson(
          input.sourceBundleId,
          own.out_seq,
          own.out_rows,
          own.out_token,
        ),
      },
      committed: sealed.rows.map(committedBundle),
    };
  }
}

/** A row `seal()` returns: one committed bundle. */
export interface SealedRow {
  out_user: string;
  out_seq: number;
  out_count: number;
  out_origin: 'push' | 'backend';
}

export function committedBundle(row: SealedRow): CommittedBundle {
  return {
    userId: row.out_user,
    bundleSeq: row.out_seq,
    rowCount: row.out_count,
    origin: row.out_origin,
  };
}

/** The rows inserted under temporary keys, as `seal` takes them: tables, real keys, temp JSON. */
function temporaryKeys(
  changes: readonly NormalizedChange[],
  tempKeys: ReadonlyMap<string, PrimaryKey>,
): [string[], string[], string[]] {
  const keyed = changes.filter((c) => tempKeys.has(c.key));
  return [
    keyed.map((c) => c.table.name),
    keyed.map((c) => String(c.pk)),
    keyed.map((c) => JSON.stringify(tempKeys.get(c.key))),
  ];
}

function decidedStates(
  changes: readonly NormalizedChange[],
  decided: ReadonlyMap<string, RowState | undefined>,
): [string[], string[], boolean[], number[], boolean[]] {
  const states = changes.map((c) => decided.get(c.key));
  return [
    changes.map((c) => c.table.name),
    changes.map((c) => String(c.pk)),
    states.map((s) => s !== undefined),
    states.map((s) => s?.rowVersion ?? 0),
    states.map((s) => s?.deleted ?? false),
  ];
}

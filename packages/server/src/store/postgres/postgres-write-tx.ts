import {
  FerryError,
  checkColumnValue,
  type PrimaryKey,
  type Schema,
  type WireRow,
} from '@ferry/protocol';
import { validateBackendRow } from '../../core/validate-changes.js';
import { withServerKey } from '../../core/server-keys.js';
import { invalidRowError, rowExistsError } from '../backend-write-errors.js';
import type { BackendWriteTx } from '../server-store.js';
import { named, type QueryConfig } from './named-query.js';
import { allocatePgKeys } from './postgres-keys.js';
import { pgValueErrors } from './pg-value-errors.js';
import { upsertQuery, type StoreSql, type TableSql } from './postgres-sql.js';

/** The part of a pg client a write transaction needs. */
export interface WriteTxClient {
  query(
    sql: string | QueryConfig,
    params?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/**
 * The transaction of `PostgresStore.write`: statements on one connection inside one
 * transaction. The capture triggers record every effect (also of raw SQL through `execute`, on
 * any user's rows); the store seals them into bundles before it commits.
 */
export class PostgresWriteTx implements BackendWriteTx {
  readonly userId: string;
  readonly #client: WriteTxClient;
  readonly #schema: Schema;
  readonly #sql: StoreSql;
  #active = true;

  constructor(client: WriteTxClient, schema: Schema, sql: StoreSql, userId: string) {
    this.#client = client;
    this.#schema = schema;
    this.#sql = sql;
    this.userId = userId;
  }

  finish(): void {
    this.#active = false;
  }

  async upsert(table: string, row: WireRow): Promise<void> {
    this.#check();
    await this.#write(table, row, 'upsert');
  }

  async insert(table: string, row: WireRow): Promise<PrimaryKey> {
    this.#check();
    const keyed = await withServerKey(this.#schema.table(table), row, async (t) => {
      const [key] = await allocatePgKeys(this.#client, this.#sql, t, 1);
      return key!;
    });
    return this.#write(table, keyed, 'insert');
  }

  async delete(table: string, pk: PrimaryKey): Promise<void> {
    this.#check();
    const statements = this.#statements(table, pk);
    await this.#assertNotForeign(statements, pk);
    await this.#client.query(named(statements.remove, [[pk]]));
  }

  async get(table: string, pk: PrimaryKey): Promise<WireRow | undefined> {
    this.#check();
    const statements = this.#statements(table, pk);
    const { rows } = await this.#client.query(named(statements.selectOwned, [pk, this.userId]));
    return rows[0] ? (JSON.parse(rows[0].j as string) as WireRow) : undefined;
  }

  async execute(sql: string, params: readonly unknown[] = []): Promise<{ changes: number }> {
    this.#check();
    const result = await this.#client.query(sql, [...params]);
    return { changes: result.rowCount ?? 0 };
  }

  async query(sql: string, params: readonly unknown[] = []): Promise<Record<string, unknown>[]> {
    this.#check();
    return (await this.#client.query(sql, [...params])).rows;
  }

  #check(): void {
    if (!this.#active) {
      throw new FerryError('closed', 'this write transaction has already finished');
    }
  }

  #statements(table: string, pk: PrimaryKey): TableSql {
    const statements = this.#sql.tables.get(table);
    if (!statements) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    const column = statements.table.column(statements.table.primaryKey)!;
    const check = checkColumnValue(column, pk);
    if (!check.ok) {
      throw new FerryError('invalid_argument', `${table} pk ${check.message}`);
    }
    return statements;
  }

  /** Validates `row` and writes it; an insert refuses a key that names a row (`conflict`). */
  async #write(table: string, row: WireRow, op: 'upsert' | 'insert'): Promise<PrimaryKey> {
    const { pk, validation } = validateBackendRow(this.#schema, this.userId, table, row);
    const errors = validation.ok ? pgValueErrors(validation.changes) : validation.errors;
    if (!validation.ok || errors.length > 0) throw invalidRowError(errors);
    const statements = this.#sql.tables.get(table)!;
    const exists = await this.#assertNotForeign(statements, pk);
    if (op === 'insert' && exists) throw rowExistsError(table, pk);
    const change = validation.changes[0]!;
    await this.#client.query(upsertQuery(statements, change.writes!, [change.row]));
    return pk;
  }

  /**
   * Locks the row (when it exists) and refuses it when it belongs to another user; true when
   * it exists.
   */
  async #assertNotForeign(statements: TableSql, pk: PrimaryKey): Promise<boolean> {
    const { rows } = await this.#client.query(named(statements.lockOwner, [pk]));
    if (rows[0] && rows[0].owner !== this.userId) {
      throw new FerryError(
        'forbidden',
        `${statements.table.name} ${String(pk)} is not ${this.userId}'s`,
      );
    }
    return rows[0] !== undefined;
  }
}

import { FerryError, type PrimaryKey, type Schema, type WireRow } from '@ferry/protocol';
import { validateBackendRow } from '../../core/validate-changes.js';
import { withServerKey } from '../../core/server-keys.js';
import { invalidRowError, rowExistsError } from '../backend-write-errors.js';
import type { BackendWriteTx } from '../server-store.js';
import { allocateSqliteKeys } from './sqlite-keys.js';
import {
  decodeRow,
  encodeRow,
  type Db,
  type RawRow,
  type Statements,
  type TableStatements,
} from './sqlite-statements.js';

/**
 * The transaction of `SqliteStore.write`: runs statements synchronously on the write
 * connection, which the store's mutex reserves for it until the callback settles.
 */
export class SqliteWriteTx implements BackendWriteTx {
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
    this.#write(table, row, 'upsert');
  }

  async insert(table: string, row: WireRow): Promise<PrimaryKey> {
    this.#check();
    const keyed = await withServerKey(this.#schema.table(table), row, async (t) => {
      const [key] = allocateSqliteKeys(this.#db, t, 1);
      return key!;
    });
    return this.#write(table, keyed, 'insert');
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

  /** Validates `row` and writes it; an insert refuses a key that names a row (`conflict`). */
  #write(table: string, row: WireRow, op: 'upsert' | 'insert'): PrimaryKey {
    const { pk, validation } = validateBackendRow(this.#schema, this.userId, table, row);
    if (!validation.ok) throw invalidRowError(validation.errors);
    const statements = this.#stmts.tables.get(table)!;
    const existing = statements.select.get(pk) as RawRow | undefined;
    if (op === 'insert' && existing) throw rowExistsError(table, pk);
    this.#assertNotForeign(statements, pk, existing);
    const change = validation.changes[0]!;
    statements.upsert(change.writes!).run(encodeRow(statements, change.row!, this.#nowIso));
    return pk;
  }

  #assertNotForeign(
    statements: TableStatements,
    pk: PrimaryKey,
    raw = statements.select.get(pk) as RawRow | undefined,
  ): void {
    if (raw && raw[statements.table.owner] !== this.userId) {
      throw new FerryError(
        'forbidden',
        `${statements.table.name} ${String(pk)} is not ${this.userId}'s`,
      );
    }
  }
}

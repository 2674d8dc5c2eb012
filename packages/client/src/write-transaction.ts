import {
  FerryError,
  checkColumnValue,
  temporaryKey,
  toSqliteValue,
  type PrimaryKey,
  type Row,
  type RowOf,
  type Schema,
  type TableName,
} from '@ferry/protocol';
import type { RunResult, SqlRow, SqlStatement, SqlValue } from './driver/sqlite-driver.js';
import { quoteIdent } from './local/local-schema-sql.js';
import type { TableCodec } from './local/table-codec.js';
import { keyMatch } from './local/key-map.js';

/** A row for `tx.insert`: columns left out take their default (or null). */
export type InsertRow<S extends Schema, N extends TableName<S>> = Partial<RowOf<S, N>>;

/** Columns to change with `tx.update`. */
export type RowPatch<S extends Schema, N extends TableName<S>> = Partial<RowOf<S, N>>;

/**
 * The transaction handed to `client.write`. `insert`, `update` and `delete` are checked at once
 * (a bad value throws `invalid_argument` before anything is written) and run in order when the
 * transaction commits, or before the next read inside it. An update or delete of a row that
 * does not exist changes nothing, as in SQL.
 */
export interface WriteTransaction<S extends Schema = Schema> {
  /**
   * Inserts a row; returns its key. On a table whose keys the server assigns (`keys: 'server'`)
   * a row without its key gets a temporary one ({@link temporaryKey}), which other rows may
   * reference at once; it becomes the server's key when the push commits.
   */
  insert<N extends TableName<S>>(table: N, row: InsertRow<S, N>): PrimaryKey;
  /**
   * On a table whose keys the server assigns, `pk` may still be a temporary key the row had:
   * the write reaches the row under its server key.
   */
  update<N extends TableName<S>>(table: N, pk: PrimaryKey, patch: RowPatch<S, N>): void;
  delete<N extends TableName<S>>(table: N, pk: PrimaryKey): void;
  /** Reads inside the transaction (sees its own writes). */
  query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  get<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R | undefined>;
  /** Any SQL write inside the transaction; changes to synced tables are captured. */
  execute(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
}

/** What a {@link WriteRecorder} needs of an opened transaction. */
export interface OpenedTransaction {
  run(sql: string, params?: readonly SqlValue[]): Promise<RunResult>;
  all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
  commit(): Promise<void>;
  rollback(): Promise<void>;
}

/**
 * Records a write's statements; the client runs them in one transaction (the fast path, one
 * driver call) or, when the callback reads, opens the transaction lazily at the first read.
 */
export class WriteRecorder<S extends Schema> implements WriteTransaction<S> {
  readonly statements: SqlStatement[];
  /** The tables the write's inserts, updates and deletes named (for live queries). */
  readonly tables = new Set<string>();
  /** The tables it deleted from (their cascades reach further). */
  readonly deletedFrom = new Set<string>();
  /** The SQL of the write's own statements (`execute`), whose tables SQLite tells. */
  readonly executed: SqlStatement[] = [];
  readonly #codecs: ReadonlyMap<string, TableCodec>;
  readonly #owner: () => string | null;
  readonly #open: () => Promise<OpenedTransaction>;
  #opened: OpenedTransaction | null = null;
  #finished = false;

  constructor(
    codecs: ReadonlyMap<string, TableCodec>,
    owner: () => string | null,
    first: SqlStatement,
    open: () => Promise<OpenedTransaction>,
  ) {
    this.#codecs = codecs;
    this.#owner = owner;
    this.statements = [first];
    this.#open = open;
  }

  /** The transaction, if a read opened it. */
  get opened(): OpenedTransaction | null {
    return this.#opened;
  }

  finish(): void {
    this.#finished = true;
  }

  insert<N extends TableName<S>>(table: N, row: InsertRow<S, N>): PrimaryKey {
    const codec = this.#codec(table);
    let values = row as Row;
    const key = codec.table.primaryKey;
    if (codec.table.serverKeys && (values[key] === undefined || values[key] === null)) {
      values = { ...values, [key]: temporaryKey(codec.table) };
    }
    for (const key of Object.keys(values)) {
      if (!codec.table.column(key)) {
        throw new FerryError('invalid_argument', `${table} has no column "${key}"`);
      }
    }
    const full: Row = {};
    for (const column of codec.table.columns) {
      let value = values[column.name];
      if (value === undefined) value = column.default ?? null;
      if (column.isOwner && (value === null || value === undefined)) value = this.#owner();
      full[column.name] = this.#check(table, column.name, value);
    }
    this.#push({ sql: codec.insertSql, params: codec.encode(full) });
    this.tables.add(codec.table.name);
    return full[key] as PrimaryKey;
  }

  update<N extends TableName<S>>(table: N, pk: PrimaryKey, patch: RowPatch<S, N>): void {
    const codec = this.#codec(table);
    const values = patch as Row;
    const sets: string[] = [];
    const params: SqlValue[] = [];
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) continue;
      const column = codec.table.column(name);
      if (!column) throw new FerryError('invalid_argument', `${table} has no column "${name}"`);
      if (column.isPrimaryKey) {
        if (value !== pk) {
          throw new FerryError(
            'invalid_argument',
            `update cannot change the primary key of ${table}`,
          );
        }
        continue;
      }
      sets.push(`${quoteIdent(name)} = ?`);
      params.push(toSqliteValue(column.type, this.#check(table, name, value)));
    }
    if (sets.length === 0) return;
    const where = keyMatch(codec, pk);
    params.push(...where.params);
    this.tables.add(codec.table.name);
    this.#push({
      sql: `UPDATE ${quoteIdent(codec.table.name)} SET ${sets.join(', ')} WHERE ${where.sql}`,
      params,
    });
  }

  delete<N extends TableName<S>>(table: N, pk: PrimaryKey): void {
    const codec = this.#codec(table);
    const where = keyMatch(codec, pk);
    this.#push({
      sql: `DELETE FROM ${quoteIdent(codec.table.name)} WHERE ${where.sql}`,
      params: where.params,
    });
    this.tables.add(codec.table.name);
    this.deletedFrom.add(codec.table.name);
  }

  async query<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]> {
    const tx = await this.flush();
    return tx.all<R>(sql, params);
  }

  async get<R extends SqlRow = SqlRow>(
    sql: string,
    params?: readonly SqlValue[],
  ): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  async execute(sql: string, params?: readonly SqlValue[]): Promise<RunResult> {
    const tx = await this.flush();
    this.executed.push({ sql, params: params ?? [] });
    return tx.run(sql, params);
  }

  /** Opens the transaction if needed and runs every recorded statement. */
  async flush(): Promise<OpenedTransaction> {
    this.#assertActive();
    this.#opened ??= await this.#open();
    const statements = this.statements.splice(0);
    for (const statement of statements) await this.#opened.run(statement.sql, statement.params);
    return this.#opened;
  }

  #push(statement: SqlStatement): void {
    this.#assertActive();
    this.statements.push(statement);
  }

  #assertActive(): void {
    if (this.#finished) {
      throw new FerryError('invalid_argument', 'this write transaction has already ended');
    }
  }

  #codec(table: string): TableCodec {
    const codec = this.#codecs.get(table);
    if (!codec) throw new FerryError('invalid_argument', `unknown table "${table}"`);
    return codec;
  }

  #check(table: string, name: string, value: unknown): unknown {
    const column = this.#codecs.get(table)!.table.column(name)!;
    const relaxed = column.isOwner || column.serverDerived !== undefined;
    const check = checkColumnValue(
      { type: column.type, notNull: column.notNull && !relaxed, maxLength: column.maxLength },
      value,
    );
    if (!check.ok) {
      throw new FerryError('invalid_argument', `${table}.${name} ${check.message}`, {
        details: { table, column: name, code: check.code },
      });
    }
    return check.value;
  }
}

import {
  FerryError,
  type PrimaryKey,
  type Schema,
  type SnapshotRow,
  type WireRow,
} from '@ferry/protocol';
import type { CursorState } from '../../core/decide-cursor.js';
import type { SnapshotReader } from '../server-store.js';
import type { StoreSql } from './postgres-sql.js';

/** The part of a pg client a snapshot needs. */
export interface SnapshotClient {
  query(
    sql: string,
    params?: unknown[],
  ): Promise<{ rows: Record<string, unknown>[]; rowCount: number | null }>;
}

/**
 * A snapshot on a connection of its own, inside one REPEATABLE READ READ ONLY transaction
 * opened before `snapshotBundleSeq` was read: every row comes from that same view. Rows stream
 * through a server-side cursor per table (DECLARE / FETCH), `batchRows` at a time, so memory
 * stays bounded whatever the row count. `close()` ends the transaction and returns the
 * connection; it is safe to call at any point and more than once.
 */
export class PostgresSnapshot implements SnapshotReader {
  readonly snapshotBundleSeq: number;
  readonly token: string | null;
  readonly serverId: string;
  readonly cursor: CursorState | undefined;
  readonly #client: SnapshotClient;
  readonly #release: (error?: unknown) => void;
  readonly #schema: Schema;
  readonly #sql: StoreSql;
  readonly #userId: string;
  readonly #batchRows: number;
  readonly #onClose: () => void;
  #closed = false;
  #reading = false;
  #failure: unknown;

  constructor(options: {
    client: SnapshotClient;
    release: (error?: unknown) => void;
    schema: Schema;
    sql: StoreSql;
    userId: string;
    snapshotBundleSeq: number;
    /** The token of bundle `snapshotBundleSeq`, read in the snapshot's transaction. */
    token: string | null;
    /** What judges the client's `after`, read in the snapshot's transaction (see SnapshotReader). */
    cursor: CursorState | undefined;
    serverId: string;
    batchRows: number;
    onClose: () => void;
  }) {
    this.#client = options.client;
    this.#release = options.release;
    this.#schema = options.schema;
    this.#sql = options.sql;
    this.#userId = options.userId;
    this.snapshotBundleSeq = options.snapshotBundleSeq;
    this.token = options.token;
    this.cursor = options.cursor;
    this.serverId = options.serverId;
    this.#batchRows = options.batchRows;
    this.#onClose = options.onClose;
  }

  async *rows(): AsyncIterable<readonly SnapshotRow[]> {
    if (this.#closed) throw new FerryError('closed', 'the snapshot is closed');
    if (this.#reading) throw new FerryError('invalid_argument', 'a snapshot is read only once');
    this.#reading = true;
    try {
      for (const [index, table] of this.#schema.tables.entries()) {
        const cursor = `ferry_snapshot_${index}`;
        await this.#client.query(
          `DECLARE ${cursor} NO SCROLL CURSOR FOR ${this.#sql.tables.get(table.name)!.snapshot}`,
          [this.#userId],
        );
        for (;;) {
          if (this.#closed) return;
          const { rows } = await this.#client.query(`FETCH ${this.#batchRows} FROM ${cursor}`);
          if (rows.length > 0) {
            yield rows.map((raw) => {
              const row = JSON.parse(raw.j as string) as WireRow;
              return {
                table: table.name,
                pk: row[table.primaryKey] as PrimaryKey,
                rowVersion: raw.row_version as number,
                row,
              };
            });
          }
          if (rows.length < this.#batchRows) break;
        }
        if (this.#closed) return;
        await this.#client.query(`CLOSE ${cursor}`);
      }
    } catch (error) {
      this.#failure = error;
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    let failure = this.#failure;
    if (failure === undefined) {
      try {
        await this.#client.query('COMMIT');
      } catch (error) {
        failure = error;
      }
    }
    this.#release(failure);
    this.#onClose();
  }
}

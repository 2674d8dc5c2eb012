import { FerryError, type PrimaryKey, type Schema, type SnapshotRow } from '@ferry/protocol';
import { quoteIdent } from './sqlite-ddl.js';
import type { CursorState } from '../../core/decide-cursor.js';
import type { SnapshotReader } from '../server-store.js';
import { decodeRow, type Db, type RawRow } from './sqlite-statements.js';

/** The user's head as a snapshot reads it. */
interface SnapshotHeadState {
  readonly lastSeq: number;
  readonly lastToken: string | null;
  readonly prunedThrough: number;
  readonly prunedToken: string | null;
  readonly afterToken: string | null;
}

/**
 * A snapshot on its own read connection: one read transaction from the first row to the last,
 * streamed in batches so memory stays bounded whatever the row count. `close()` ends the
 * transaction and closes the connection at any point, mid-read included (an open statement
 * iterator is finished first: SQLite refuses to commit or close under one).
 */
export class SqliteSnapshot implements SnapshotReader {
  readonly snapshotBundleSeq: number;
  readonly token: string | null;
  readonly serverId: string;
  readonly cursor: CursorState | undefined;
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
    after?: number,
  ) {
    this.serverId = serverId;
    this.#db = db;
    this.#ownsConnection = ownsConnection;
    this.#schema = schema;
    this.#userId = userId;
    this.#batchRows = batchRows;
    this.#onClose = onClose;
    // The seq, its token and what judges the client's `after` come from the same read
    // transaction as the rows.
    const readState = () =>
      (db
        .prepare(
          'SELECT last_seq AS lastSeq, last_token AS lastToken, pruned_through AS prunedThrough, ' +
            'pruned_token AS prunedToken, (SELECT token FROM ferry_bundles b ' +
            'WHERE b.user_id = ferry_users.user_id AND b.bundle_seq = ?) AS afterToken ' +
            'FROM ferry_users WHERE user_id = ?',
        )
        .get(after ?? 0, userId) as SnapshotHeadState | undefined) ?? {
        lastSeq: 0,
        lastToken: null,
        prunedThrough: 0,
        prunedToken: null,
        afterToken: null,
      };
    const cursorOf = (state: SnapshotHeadState): CursorState | undefined =>
      after === undefined
        ? undefined
        : {
            lastSeq: state.lastSeq,
            prunedThrough: state.prunedThrough,
            prunedToken: state.prunedToken,
            afterToken: state.afterToken,
          };
    if (ownsConnection) {
      db.exec('BEGIN');
      const state = readState();
      this.snapshotBundleSeq = state.lastSeq;
      this.token = state.lastToken;
      this.cursor = cursorOf(state);
      this.#materialised = undefined;
    } else {
      // ':memory:' has one connection, shared with writers: read everything now.
      const { state, batches } = db.transaction(() => ({
        state: readState(),
        batches: [...this.#batches()],
      }))();
      this.snapshotBundleSeq = state.lastSeq;
      this.token = state.lastToken;
      this.cursor = cursorOf(state);
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

import type { SqlValue } from '../driver/sqlite-driver.js';
import type { Executor } from './metadata.js';
import { insertMany } from './insert-many.js';
import type { TableCodec } from './table-codec.js';

/** The connection's journal of the rows a page touched (columns `tbl, pk, op`). */
export const TOUCHED_TABLE = 'temp.ferry_touched';

/** Collects the rows a page wrote, for the integrity gate. */
export class TouchedRows {
  readonly upserted = new Set<string>();
  readonly deleted = new Set<string>();
  readonly #tx: Executor;

  constructor(tx: Executor) {
    this.#tx = tx;
  }

  /** Empties the journal of an earlier page and collects this page's rows. */
  static async start(tx: Executor): Promise<TouchedRows> {
    await tx.run(`DELETE FROM ${TOUCHED_TABLE}`);
    return new TouchedRows(tx);
  }

  async add(codec: TableCodec, pk: SqlValue, op: 'u' | 'd'): Promise<void> {
    const table = codec.table;
    // Only what the gate can check: upserted children, deleted parents.
    if (op === 'u' ? table.references.length === 0 : table.referencedBy.length === 0) return;
    (op === 'u' ? this.upserted : this.deleted).add(table.name);
    await this.#tx.run(`INSERT INTO ${TOUCHED_TABLE} (tbl, pk, op) VALUES (?, ?, ?)`, [
      table.name,
      pk,
      op,
    ]);
  }

  /** {@link add} for many rows, with multi-row statements. */
  async addMany(
    rows: readonly { readonly codec: TableCodec; readonly pk: SqlValue; readonly op: 'u' | 'd' }[],
  ): Promise<void> {
    const kept: SqlValue[][] = [];
    for (const { codec, pk, op } of rows) {
      const table = codec.table;
      if (op === 'u' ? table.references.length === 0 : table.referencedBy.length === 0) continue;
      (op === 'u' ? this.upserted : this.deleted).add(table.name);
      kept.push([table.name, pk, op]);
    }
    await insertMany(this.#tx, `INSERT INTO ${TOUCHED_TABLE} (tbl, pk, op)`, 3, kept);
  }
}

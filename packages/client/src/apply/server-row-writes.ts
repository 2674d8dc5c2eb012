import type { Row } from '@ferry/protocol';
import type { SqlValue } from '../driver/sqlite-driver.js';
import type { Executor } from '../local/metadata.js';
import { insertMany } from '../local/insert-many.js';
import type { TableCodec } from '../local/table-codec.js';

/**
 * Business rows set to their server state, collected by table and written with multi-row
 * statements: an upsert of the server's copy, or a delete when the server has none. Capture must
 * be off (server data is not a local change).
 */
export class ServerRowWrites {
  readonly #byTable = new Map<TableCodec, { upserts: SqlValue[][]; deletes: SqlValue[] }>();

  /** The row `pk` of `codec`'s table := `base` (deleted when null). */
  set(codec: TableCodec, pk: SqlValue, base: Row | null): void {
    let rows = this.#byTable.get(codec);
    if (!rows) this.#byTable.set(codec, (rows = { upserts: [], deletes: [] }));
    if (base === null) rows.deletes.push(pk);
    else rows.upserts.push(codec.encode(base));
  }

  /** Writes what was set, table by table: upserts first, then deletes. */
  async flush(tx: Executor): Promise<void> {
    for (const [codec, rows] of this.#byTable) {
      await insertMany(
        tx,
        codec.insertHeadSql,
        codec.table.columns.length,
        rows.upserts,
        codec.upsertConflictSql,
      );
      if (rows.deletes.length > 0) {
        await tx.run(codec.deleteManySql, [JSON.stringify(rows.deletes)]);
      }
    }
    this.#byTable.clear();
  }
}

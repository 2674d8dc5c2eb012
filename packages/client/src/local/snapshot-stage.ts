/**
 * `temp.ferry_snapshot`: the connection's staging area of a snapshot being downloaded, filled in
 * short transactions and applied in one (`applySnapshot`). The statements of the download and of
 * its clean-up are here.
 *
 * @module
 */
import type { SqlValue } from '../driver/sqlite-driver.js';
import { insertMany } from './insert-many.js';
import type { Executor } from './metadata.js';

/** Rows staged per transaction while a snapshot streams in, and read per batch when applied. */
export const STAGE_BATCH = 1000;

/** Empties the staging area (before a download, after a failed one or an applied one). */
export async function clearSnapshotStage(db: Executor): Promise<void> {
  await db.run('DELETE FROM temp.ferry_snapshot');
}

/** Stages snapshot rows, each `[table, encoded pk, rowVersion, row JSON]`. */
export async function stageSnapshotRows(tx: Executor, rows: readonly SqlValue[][]): Promise<void> {
  await insertMany(tx, 'INSERT INTO temp.ferry_snapshot (tbl, pk, version, row)', 4, rows);
}

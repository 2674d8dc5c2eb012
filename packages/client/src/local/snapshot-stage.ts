/**
 * `temp.ferry_snapshot`: the connection's staging area of a snapshot being downloaded, filled in
 * short transactions and applied in one (`applySnapshot`). The statements of the download, of
 * its clean-up, and those of the apply that set the metadata tables (and the rows without local
 * intent) against the staged rows are here.
 *
 * @module
 */
import type { SqlValue } from '../driver/sqlite-driver.js';
import { insertMany } from './insert-many.js';
import type { Table } from '@ferry/protocol';
import { quoteIdent, quoteLiteral } from './local-schema-sql.js';
import { noLocalIntentSql, type Executor } from './metadata.js';

/** The staging table. */
export const SNAPSHOT_TABLE = 'temp.ferry_snapshot';

/** Rows staged per transaction while a snapshot streams in, and read per batch when applied. */
export const STAGE_BATCH = 1000;

/** Empties the staging area (before a download, after a failed one or an applied one). */
export async function clearSnapshotStage(db: Executor): Promise<void> {
  await db.run(`DELETE FROM ${SNAPSHOT_TABLE}`);
}

/** Stages snapshot rows, each `[table, encoded pk, rowVersion, row JSON]`. */
export async function stageSnapshotRows(tx: Executor, rows: readonly SqlValue[][]): Promise<void> {
  await insertMany(tx, `INSERT INTO ${SNAPSHOT_TABLE} (tbl, pk, version, row)`, 4, rows);
}

/** A staged row: its seq in the stage, table, encoded key, version and row JSON. */
export interface StagedRow {
  readonly seq: number;
  readonly tbl: string;
  readonly pk: SqlValue;
  readonly version: number;
  readonly row: string;
}

/** The next `limit` staged rows after seq `after`, in order. */
export async function readStagedRows(
  tx: Executor,
  after: number,
  limit: number,
): Promise<StagedRow[]> {
  return tx.all<StagedRow & Record<string, SqlValue>>(
    `SELECT seq, tbl, pk, version, row FROM ${SNAPSHOT_TABLE} WHERE seq > ? ORDER BY seq LIMIT ?`,
    [after, limit],
  );
}

/** A condition: the row `alias.tbl`, `alias.pk` is in the staged snapshot. */
function inSnapshot(alias: string): string {
  return `EXISTS (SELECT 1 FROM ${SNAPSHOT_TABLE} s WHERE s.tbl = ${alias}.tbl AND s.pk = ${alias}.pk)`;
}

/**
 * Pins the unpinned pending entries of rows the snapshot lacks to the server state the file knew
 * of them (`pinOnRemoteEffect`, set-based), except entries stacked on the row's change in flight
 * (pin invariants 2 and 3, `pending-pin.ts`).
 */
export async function pinPendingOutsideSnapshot(tx: Executor): Promise<void> {
  const known = (column: string) =>
    `(SELECT r.${column} FROM ferry_rows r WHERE r.tbl = ferry_outbox.tbl AND r.pk = ferry_outbox.pk)`;
  await tx.run(
    `UPDATE ferry_outbox SET pinned = 1, pin_version = ${known('version')}, pin_base = ${known('base')} ` +
      `WHERE pinned = 0 AND NOT ${inSnapshot('ferry_outbox')} ` +
      'AND EXISTS (SELECT 1 FROM ferry_rows r WHERE r.tbl = ferry_outbox.tbl AND r.pk = ferry_outbox.pk) ' +
      'AND NOT EXISTS (SELECT 1 FROM ferry_inflight f WHERE f.tbl = ferry_outbox.tbl AND f.pk = ferry_outbox.pk)',
  );
}

/**
 * The row states of live rows the snapshot lacks: tombstones at the version known, or, after a
 * lost history (`lost`), deleted.
 */
export async function retireRowStatesOutsideSnapshot(tx: Executor, lost: boolean): Promise<void> {
  await tx.run(
    lost
      ? `DELETE FROM ferry_rows WHERE deleted = 0 AND NOT ${inSnapshot('ferry_rows')}`
      : `UPDATE ferry_rows SET deleted = 1, base = NULL WHERE deleted = 0 AND NOT ${inSnapshot('ferry_rows')}`,
  );
}

/** Deletes the rows of `table` the snapshot lacks and that have no local intent. */
export async function deleteRowsOutsideSnapshot(tx: Executor, table: Table): Promise<void> {
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.primaryKey);
  const name = quoteLiteral(table.name);
  await tx.run(
    `DELETE FROM ${t} WHERE NOT EXISTS (SELECT 1 FROM ${SNAPSHOT_TABLE} s WHERE s.tbl = ${name} AND s.pk = ${t}.${pk}) ` +
      `AND ${noLocalIntentSql(name, `${t}.${pk}`)}`,
  );
}

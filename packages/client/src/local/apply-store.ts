/**
 * The statements the apply runs on the metadata tables besides the row states and pending
 * entries of `metadata.ts`: where local intent exists, the rows of the bundle in flight, and the
 * server states recorded in bulk.
 *
 * @module
 */
import type { SqlValue } from '../driver/sqlite-driver.js';
import { insertMany } from './insert-many.js';
import {
  parseRow,
  pendingOf,
  type Executor,
  type PendingEntry,
  type PendingSqlRow,
  type RowState,
} from './metadata.js';

/** Which kinds of local intent exist at all; lets the apply skip lookups in the common case. */
export interface IntentPresence {
  readonly pending: boolean;
  readonly other: boolean;
}

/** Whether any pending entry exists, and any other intent (in flight, dead letter, conflict). */
export async function intentPresence(tx: Executor): Promise<IntentPresence> {
  const rows = await tx.all<{ pending: number; other: number }>(
    'SELECT EXISTS (SELECT 1 FROM ferry_outbox) AS pending, ' +
      '(EXISTS (SELECT 1 FROM ferry_inflight) OR EXISTS (SELECT 1 FROM ferry_dead_letters) OR EXISTS (SELECT 1 FROM ferry_conflicts)) AS other',
  );
  return { pending: rows[0]?.pending === 1, other: rows[0]?.other === 1 };
}

/** Whether the row has a change in the bundle in flight. */
export async function isInFlight(tx: Executor, tbl: string, pk: SqlValue): Promise<boolean> {
  const rows = await tx.all('SELECT 1 FROM ferry_inflight WHERE tbl = ? AND pk = ?', [tbl, pk]);
  return rows.length > 0;
}

/** Whether the row is in flight, dead-lettered or in a manual conflict. */
export async function hasOtherIntent(tx: Executor, tbl: string, pk: SqlValue): Promise<boolean> {
  const rows = await tx.all(
    'SELECT 1 FROM ferry_inflight WHERE tbl = ? AND pk = ? UNION ALL SELECT 1 FROM ferry_dead_letters WHERE tbl = ? AND pk = ? ' +
      'UNION ALL SELECT 1 FROM ferry_conflicts WHERE tbl = ? AND pk = ? LIMIT 1',
    [tbl, pk, tbl, pk, tbl, pk],
  );
  return rows.length > 0;
}

/** The rows of the bundle in flight in order, each saying whether an edit is pending on it. */
export async function readInflightRows(
  tx: Executor,
): Promise<{ ord: number; tbl: string; pk: SqlValue; pending: boolean }[]> {
  const rows = await tx.all<{ ord: number; tbl: string; pk: SqlValue; pending: number }>(
    'SELECT f.ord, f.tbl, f.pk, o.tbl IS NOT NULL AS pending FROM ferry_inflight f ' +
      'LEFT JOIN ferry_outbox o ON o.tbl = f.tbl AND o.pk = f.pk ORDER BY f.ord',
  );
  return rows.map((row) => ({ ...row, pending: row.pending === 1 }));
}

/** The stored server copy (`ferry_rows.base`) of every row of the bundle in flight, by `ord`. */
export async function readInflightBases(tx: Executor): Promise<Map<number, string | null>> {
  const rows = await tx.all<{ ord: number; base: string | null }>(
    'SELECT f.ord, r.base FROM ferry_inflight f LEFT JOIN ferry_rows r ON r.tbl = f.tbl AND r.pk = f.pk',
  );
  return new Map(rows.map((r) => [r.ord, r.base]));
}

/**
 * Our bundle committed at or before the checkpoint, and what the file learned since came with a
 * snapshot, which has no tombstones. The rows our bundle deleted (`ferry_committed`), and the
 * rows it upserted that the file knows no live state of (the snapshot lacked them: deleted after
 * our commit), are known deleted at our commit's version, unless something newer is known: a
 * later change of one then goes out on a version at least ours (it met our commit as its base),
 * not on an older one the file held before.
 */
export async function recordCommittedGone(tx: Executor): Promise<void> {
  await tx.run(
    'INSERT INTO ferry_rows (tbl, pk, version, deleted, base) ' +
      'SELECT c.tbl, c.pk, c.version, 1, NULL FROM ferry_committed c WHERE c.row IS NULL ' +
      'OR NOT EXISTS (SELECT 1 FROM ferry_rows r WHERE r.tbl = c.tbl AND r.pk = c.pk AND r.deleted = 0) ' +
      'ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, deleted = 1, ' +
      'base = NULL WHERE excluded.version > ferry_rows.version',
  );
}

/**
 * Records server states `[tbl, pk, version, deleted, base]` with multi-row upserts, each only
 * over an older known version; returns how many were recorded.
 */
export async function recordNewerRowStates(
  tx: Executor,
  rows: readonly (readonly SqlValue[])[],
): Promise<number> {
  return insertMany(
    tx,
    'INSERT INTO ferry_rows (tbl, pk, version, deleted, base)',
    5,
    rows,
    'ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, ' +
      'base = excluded.base WHERE excluded.version > ferry_rows.version',
  );
}

/** What the file holds of a row of the bundle in flight: its server state and pending entry. */
export interface InflightRowState {
  readonly serverState: RowState | undefined;
  readonly pending: PendingEntry | undefined;
}

/** The server state and pending entry of the changes `ords` of the bundle in flight, by ord. */
export async function readInflightRowStates(
  tx: Executor,
  ords: readonly number[],
): Promise<Map<number, InflightRowState>> {
  type Joined = PendingSqlRow & {
    ord: number;
    r_version: number | null;
    r_deleted: number | null;
    r_base: string | null;
  };
  // `o.tbl` is null when no edit is pending on the row.
  const rows = await tx.all<Joined>(
    'SELECT f.ord, r.version AS r_version, r.deleted AS r_deleted, r.base AS r_base, ' +
      'o.tbl, o.pk, o.op, o.first_group, o.last_group, o.first_at, o.pinned, o.pin_version, o.pin_base ' +
      'FROM ferry_inflight f LEFT JOIN ferry_rows r ON r.tbl = f.tbl AND r.pk = f.pk ' +
      'LEFT JOIN ferry_outbox o ON o.tbl = f.tbl AND o.pk = f.pk ' +
      'WHERE f.ord IN (SELECT value FROM json_each(?))',
    [JSON.stringify(ords)],
  );
  return new Map(
    rows.map((row) => [
      row.ord,
      {
        serverState:
          row.r_version === null
            ? undefined
            : { version: row.r_version, deleted: row.r_deleted === 1, base: parseRow(row.r_base) },
        pending: (row.tbl as string | null) === null ? undefined : pendingOf(row),
      },
    ]),
  );
}

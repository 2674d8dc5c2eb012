/**
 * `ferry_conflicts`: the manual conflicts waiting for the app. Every statement on the table is
 * here.
 *
 * @module
 */
import type { PrimaryKey, Row } from '@ferry/protocol';
import type { Executor, FrozenChange } from './metadata.js';

/** A manual conflict as the table holds it (rows as JSON text). */
export type ConflictRecord = {
  readonly id: number;
  readonly tbl: string;
  readonly pk: PrimaryKey;
  readonly local: string | null;
  readonly base: string | null;
  readonly server: string | null;
  readonly server_version: number | null;
  readonly server_deleted: number;
  readonly reason: string;
  readonly first_at: number;
  readonly at: number;
};

/** What the server said of the conflicting row, and why the resolver left it to the app. */
export interface ManualConflictCause {
  readonly local: Row | null;
  readonly server: Row | null;
  readonly serverVersion: number | null;
  readonly serverDeleted: boolean;
  readonly reason: string;
  readonly at: number;
}

/** Records `change` as a manual conflict, in place of any earlier one of its row. */
export async function putManualConflict(
  tx: Executor,
  change: FrozenChange,
  cause: ManualConflictCause,
): Promise<void> {
  await tx.run(
    'INSERT OR REPLACE INTO ferry_conflicts (tbl, pk, op, local, base, server, base_version, server_version, server_deleted, reason, first_at, at) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [
      change.tbl,
      change.pk,
      change.op,
      cause.local === null ? null : JSON.stringify(cause.local),
      change.base === null ? null : JSON.stringify(change.base),
      cause.server === null ? null : JSON.stringify(cause.server),
      change.baseVersion,
      cause.serverVersion,
      cause.serverDeleted ? 1 : 0,
      cause.reason,
      change.firstAt,
      cause.at,
    ],
  );
}

const COLUMNS =
  'id, tbl, pk, local, base, server, server_version, server_deleted, reason, first_at, at';

/** Every manual conflict, oldest first. */
export async function readConflicts(db: Executor): Promise<ConflictRecord[]> {
  return db.all<ConflictRecord>(`SELECT ${COLUMNS} FROM ferry_conflicts ORDER BY id`);
}

/** Manual conflict `id`, or undefined. */
export async function readConflict(db: Executor, id: number): Promise<ConflictRecord | undefined> {
  const rows = await db.all<ConflictRecord>(`SELECT ${COLUMNS} FROM ferry_conflicts WHERE id = ?`, [
    id,
  ]);
  return rows[0];
}

export async function deleteConflict(db: Executor, id: number): Promise<void> {
  await db.run('DELETE FROM ferry_conflicts WHERE id = ?', [id]);
}

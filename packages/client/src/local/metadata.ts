import {
  changedColumns,
  counterDeltas,
  type Change,
  type PrimaryKey,
  type Row,
  type Schema,
  type Table,
} from '@ferry/protocol';
import type { TransactionExecutor } from '../driver/serial-database.js';
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';
import { insertMany } from './insert-many.js';
import type { Pin } from './pending-pin.js';

/** Keys of `ferry_state`. */
export type StateKey =
  | 'format'
  | 'source_id'
  | 'first_source_id'
  | 'next_source_bundle_id'
  | 'checkpoint'
  | 'checkpoint_token'
  | 'server_id'
  | 'user_id'
  | 'schema_fingerprint'
  | 'schema_version'
  | 'needs_hydration'
  | 'history_lost'
  | 'bases_point';

/** Anything that runs statements: the serial database or an open transaction. */
export type Executor = Pick<TransactionExecutor, 'run' | 'all'> &
  Partial<Pick<TransactionExecutor, 'pause'>>;

export async function readState(db: Executor, key: StateKey): Promise<unknown> {
  const rows = await db.all<{ value: unknown }>('SELECT value FROM ferry_state WHERE key = ?', [
    key,
  ]);
  return rows[0]?.value ?? null;
}

/** The schema the file was last opened with: its fingerprint and version (null before). */
export async function readSchemaState(
  db: Executor,
): Promise<{ fingerprint: string | null; version: number | null }> {
  const fingerprint = await readState(db, 'schema_fingerprint');
  const version = await readState(db, 'schema_version');
  return {
    fingerprint: typeof fingerprint === 'string' ? fingerprint : null,
    version: version === null ? null : Number(version),
  };
}

export async function writeState(db: Executor, key: StateKey, value: SqlValue): Promise<void> {
  await db.run(
    'INSERT INTO ferry_state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value',
    [key, value],
  );
}

/** The pull checkpoint (0 before the first pull). */
export async function readCheckpoint(db: Executor): Promise<number> {
  return ((await readState(db, 'checkpoint')) as number | null) ?? 0;
}

/**
 * The pull cursor: the checkpoint (0 before the first pull), and the server's history token of
 * it when the server gave one (sent back with pulls, syncs and pushes, so that a server whose
 * history differs from ours answers 410 `cursor_unknown`).
 */
export async function readCursor(db: Executor): Promise<{ after: number; token: string | null }> {
  const after = await readCheckpoint(db);
  const token = after > 0 ? ((await readState(db, 'checkpoint_token')) as string | null) : null;
  return { after, token };
}

/** Server state of one row (`ferry_rows`). */
export interface RowState {
  readonly version: number;
  readonly deleted: boolean;
  /** The last-synced copy; null when deleted. */
  readonly base: Row | null;
}

/** The row states of `pks` of table `tbl` (rows the file never knew are absent), in one query. */
export async function readRowStatesOf(
  db: Executor,
  tbl: string,
  pks: readonly SqlValue[],
): Promise<{ pk: SqlValue; version: number; base: string | null }[]> {
  return db.all<{ pk: SqlValue; version: number; base: string | null }>(
    'SELECT pk, version, base FROM ferry_rows WHERE tbl = ? AND pk IN (SELECT value FROM json_each(?))',
    [tbl, JSON.stringify(pks)],
  );
}

/** Sets row states in multi-row statements; a null `baseJson` is a tombstone. */
export async function writeRowStates(
  db: Executor,
  states: readonly {
    readonly tbl: string;
    readonly pk: SqlValue;
    readonly version: number;
    readonly baseJson: string | null;
  }[],
): Promise<void> {
  await insertMany(
    db,
    'INSERT INTO ferry_rows (tbl, pk, version, deleted, base)',
    5,
    states.map((s) => [s.tbl, s.pk, s.version, s.baseJson === null ? 1 : 0, s.baseJson]),
    'ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, ' +
      'base = excluded.base',
  );
}

/**
 * Files of clients before source rotation have no `ferry_bundle.source_id`: add it, and give a
 * bundle in flight the file's source id (the only one such a file ever had).
 */
export async function upgradeBundleTable(db: Executor, sourceId: string): Promise<void> {
  const columns = await db.all<{ name: string }>('PRAGMA table_info(ferry_bundle)');
  if (!columns.some((c) => c.name === 'source_id')) {
    await db.run('ALTER TABLE ferry_bundle ADD COLUMN source_id TEXT');
  }
  await db.run('UPDATE ferry_bundle SET source_id = ? WHERE source_id IS NULL', [sourceId]);
}

export async function readRowState(
  db: Executor,
  tbl: string,
  pk: SqlValue,
): Promise<RowState | undefined> {
  const rows = await db.all<{ version: number; deleted: number; base: string | null }>(
    'SELECT version, deleted, base FROM ferry_rows WHERE tbl = ? AND pk = ?',
    [tbl, pk],
  );
  const row = rows[0];
  if (!row) return undefined;
  return { version: row.version, deleted: row.deleted === 1, base: parseRow(row.base) };
}

export async function writeRowState(
  db: Executor,
  tbl: string,
  pk: SqlValue,
  version: number,
  base: Row | null,
): Promise<void> {
  await db.run(
    'INSERT INTO ferry_rows (tbl, pk, version, deleted, base) VALUES (?, ?, ?, ?, ?) ' +
      'ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, deleted = excluded.deleted, base = excluded.base',
    [tbl, pk, version, base === null ? 1 : 0, base === null ? null : JSON.stringify(base)],
  );
}

/**
 * A pending entry's operation: `I` a row the server does not know yet, `U` a change of a row
 * the server knows (pushed as an upsert of the whole row), `D` a delete.
 */
export type PendingOp = 'I' | 'U' | 'D';

/**
 * A condition that holds when the row `pk` (an SQL expression) of table `tbl` (a quoted
 * literal) has no local intent: not pending, in flight, dead-lettered or in a manual conflict
 * (the `ferry_intent` view).
 */
export function noLocalIntentSql(tbl: string, pk: string): string {
  return `NOT EXISTS (SELECT 1 FROM ferry_intent i WHERE i.tbl = ${tbl} AND i.pk = ${pk})`;
}

/**
 * The server purged the user's tombstones at or below `prunedThrough` with its pruned history:
 * the file forgets its own there too (row states of deleted rows without local intent). A
 * re-insert of such a row then goes out as a plain insert, which the server, having no state of
 * the row either, takes as one. Returns how many were forgotten.
 */
export async function forgetTombstonesThrough(
  db: Executor,
  prunedThrough: number,
): Promise<number> {
  const { changes } = await db.run(
    'DELETE FROM ferry_rows WHERE deleted = 1 AND version <= ? AND ' +
      noLocalIntentSql('ferry_rows.tbl', 'ferry_rows.pk'),
    [prunedThrough],
  );
  return changes;
}

/** The coalesced state of one row's pending entry. */
export interface PendingHead {
  readonly tbl: string;
  readonly pk: unknown;
  readonly op: PendingOp;
  /** The write group of the first change folded in (the `B` marker's seq). */
  readonly firstGroup: number;
  /** The write group of the latest change folded in. */
  readonly lastGroup: number;
  /** When the first change was made (ms). */
  readonly firstAt: number;
}

/** A pending outbox entry with its pin (the pin's invariants: `pending-pin.ts`). */
export interface PendingEntry extends PendingHead, Pin {}

const PENDING_COLUMNS =
  'tbl, pk, op, first_group, last_group, first_at, pinned, pin_version, pin_base';

/** A row of `ferry_outbox` as SQLite returns it. */
export interface PendingSqlRow extends SqlRow {
  tbl: string;
  pk: SqlValue;
  op: PendingOp;
  first_group: number;
  last_group: number;
  first_at: number;
  pinned: number;
  pin_version: number | null;
  pin_base: string | null;
}

export function pendingOf(row: PendingSqlRow): PendingEntry {
  return {
    tbl: row.tbl,
    pk: row.pk,
    op: row.op,
    firstGroup: row.first_group,
    lastGroup: row.last_group,
    firstAt: row.first_at,
    pinned: row.pinned === 1,
    pinVersion: row.pin_version,
    pinBase: parseRow(row.pin_base),
  };
}

export async function readPending(
  db: Executor,
  tbl: string,
  pk: SqlValue,
): Promise<PendingEntry | undefined> {
  const rows = await db.all<PendingSqlRow>(
    `SELECT ${PENDING_COLUMNS} FROM ferry_outbox WHERE tbl = ? AND pk = ?`,
    [tbl, pk],
  );
  return rows[0] ? pendingOf(rows[0]) : undefined;
}

export async function writePending(db: Executor, entry: PendingEntry): Promise<void> {
  await db.run(
    `INSERT INTO ferry_outbox (${PENDING_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ` +
      'ON CONFLICT (tbl, pk) DO UPDATE SET op = excluded.op, first_group = excluded.first_group, ' +
      'last_group = excluded.last_group, first_at = excluded.first_at, pinned = excluded.pinned, ' +
      'pin_version = excluded.pin_version, pin_base = excluded.pin_base',
    [
      entry.tbl,
      entry.pk as SqlValue,
      entry.op,
      entry.firstGroup,
      entry.lastGroup,
      entry.firstAt,
      entry.pinned ? 1 : 0,
      entry.pinVersion,
      entry.pinBase === null ? null : JSON.stringify(entry.pinBase),
    ],
  );
}

export async function deletePending(db: Executor, tbl: string, pk: SqlValue): Promise<void> {
  await db.run('DELETE FROM ferry_outbox WHERE tbl = ? AND pk = ?', [tbl, pk]);
}

/** Sets `ferry_capture.applying`: 1 while server data is written, so triggers skip it. */
export async function setApplying(db: Executor, applying: boolean): Promise<void> {
  await db.run('UPDATE ferry_capture SET applying = ? WHERE id = 1', [applying ? 1 : 0]);
}

/** One change of the frozen bundle. */
export interface FrozenChange {
  readonly ord: number;
  readonly tbl: string;
  readonly pk: PrimaryKey;
  /** The pending op it was frozen from (for unfreezing). */
  readonly letter: PendingOp;
  readonly op: 'upsert' | 'delete';
  readonly baseVersion: number | null;
  /** The server row the change was made on (its last-synced copy), null if none. */
  readonly base: Row | null;
  /** The row as sent (null for a delete). */
  readonly row: Row | null;
  readonly firstGroup: number;
  readonly lastGroup: number;
  readonly firstAt: number;
  /** Rebase-and-retry rounds so far. */
  readonly conflicts: number;
}

/** The bundle in flight. */
export interface FrozenBundle {
  /** The source it was frozen under (the current one, unless a rotation left it committed). */
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly frozenAt: number;
  readonly attempts: number;
  readonly committedSeq: number | null;
  readonly changes: readonly FrozenChange[];
  /**
   * The wire JSON of each change, when the bundle was just frozen (in memory only, so its first
   * send does not serialise the rows again). It is exactly `JSON.stringify(wireChangeOf(change))`:
   * a bundle read back from the file serialises to the same bytes.
   */
  readonly wire?: readonly string[];
}

interface FrozenSqlRow extends SqlRow {
  ord: number;
  tbl: string;
  pk: PrimaryKey;
  letter: PendingOp;
  op: 'upsert' | 'delete';
  base_version: number | null;
  base: string | null;
  row: string | null;
  first_group: number;
  last_group: number;
  first_at: number;
  conflicts: number;
}

/** The bundle in flight without its changes: what most steps need to know of it. */
export interface FrozenBundleHead {
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly frozenAt: number;
  readonly attempts: number;
  readonly committedSeq: number | null;
  /** How many changes it holds. */
  readonly changeCount: number;
}

/** The head of the bundle in flight, or null; one query, whatever the bundle's size. */
export async function readFrozenBundleHead(db: Executor): Promise<FrozenBundleHead | null> {
  const rows = await db.all<{
    source_id: string;
    source_bundle_id: number;
    frozen_at: number;
    attempts: number;
    committed_seq: number | null;
    changes: number;
  }>(
    'SELECT source_id, source_bundle_id, frozen_at, attempts, committed_seq, (SELECT count(*) FROM ferry_inflight) AS changes FROM ferry_bundle WHERE id = 1',
  );
  const row = rows[0];
  if (!row) return null;
  return {
    sourceId: row.source_id,
    sourceBundleId: row.source_bundle_id,
    frozenAt: row.frozen_at,
    attempts: row.attempts,
    committedSeq: row.committed_seq,
    changeCount: row.changes,
  };
}

/** The bundle in flight with all its changes, or null. */
export async function readFrozenBundle(db: Executor): Promise<FrozenBundle | null> {
  const bundles = await db.all<{
    source_id: string;
    source_bundle_id: number;
    frozen_at: number;
    attempts: number;
    committed_seq: number | null;
  }>(
    'SELECT source_id, source_bundle_id, frozen_at, attempts, committed_seq FROM ferry_bundle WHERE id = 1',
  );
  const bundle = bundles[0];
  if (!bundle) return null;
  const rows = await db.all<FrozenSqlRow>(
    'SELECT ord, tbl, pk, letter, op, base_version, base, row, first_group, last_group, first_at, conflicts FROM ferry_inflight ORDER BY ord',
  );
  return {
    sourceId: bundle.source_id,
    sourceBundleId: bundle.source_bundle_id,
    frozenAt: bundle.frozen_at,
    attempts: bundle.attempts,
    committedSeq: bundle.committed_seq,
    changes: rows.map((r) => ({
      ord: r.ord,
      tbl: r.tbl,
      pk: r.pk,
      letter: r.letter,
      op: r.op,
      baseVersion: r.base_version,
      base: parseRow(r.base),
      row: parseRow(r.row),
      firstGroup: r.first_group,
      lastGroup: r.last_group,
      firstAt: r.first_at,
      conflicts: r.conflicts,
    })),
  };
}

export async function insertFrozenChange(db: Executor, change: FrozenChange): Promise<void> {
  await insertFrozenChanges(db, [change]);
}

/** Stores changes of the bundle in flight, with as few statements as the parameter limit allows. */
export async function insertFrozenChanges(
  db: Executor,
  changes: readonly FrozenChange[],
): Promise<void> {
  await insertMany(
    db,
    'INSERT INTO ferry_inflight (ord, tbl, pk, letter, op, base_version, base, row, first_group, last_group, first_at, conflicts)',
    12,
    changes.map((change) => [
      change.ord,
      ...frozenChangeValues(change),
      change.firstGroup,
      change.lastGroup,
      change.firstAt,
      change.conflicts,
    ]),
  );
}

/**
 * A frozen change as the tables that keep one hold it (the bundle in flight, dead letters):
 * `tbl, pk, letter, op, base_version, base, row`, rows as JSON text.
 */
export function frozenChangeValues(change: FrozenChange): SqlValue[] {
  return [
    change.tbl,
    change.pk,
    change.letter,
    change.op,
    change.baseVersion,
    change.base === null ? null : JSON.stringify(change.base),
    change.row === null ? null : JSON.stringify(change.row),
  ];
}

/**
 * The base of an edit stacked on the change in flight for a row (see `settleFrozenChange`): the
 * row as the server committed it once that is known (`ferry_committed`), else the base the
 * change was made on. Undefined when no change in flight is about that row.
 */
export async function readStackBase(
  db: Executor,
  tbl: string,
  pk: SqlValue,
): Promise<{ readonly version: number | null; readonly base: Row | null } | undefined> {
  const rows = await db.all<{
    base_version: number | null;
    base: string | null;
    committed: number;
    c_version: number | null;
    c_row: string | null;
  }>(
    'SELECT f.base_version, f.base, c.tbl IS NOT NULL AS committed, c.version AS c_version, c.row AS c_row ' +
      'FROM ferry_inflight f LEFT JOIN ferry_committed c ON c.tbl = f.tbl AND c.pk = f.pk ' +
      'WHERE f.tbl = ? AND f.pk = ?',
    [tbl, pk],
  );
  const row = rows[0];
  if (!row) return undefined;
  return row.committed === 1
    ? { version: row.c_version, base: parseRow(row.c_row) }
    : { version: row.base_version, base: parseRow(row.base) };
}

/**
 * Remembers the rows of the bundle in flight as the server committed them (the effects of the
 * push answer on the bundle's rows; cascades and other rows are not its changes' bases).
 */
export async function recordCommittedRows(
  db: Executor,
  effects: readonly { table: string; pk: SqlValue; rowVersion: number; row: Row | null }[],
): Promise<void> {
  await db.run('DELETE FROM ferry_committed');
  // A run of rows at a time, the event loop getting its turns in between.
  for (let start = 0; start < effects.length; start += 1_000) {
    if (start > 0) await db.pause?.();
    await insertMany(
      db,
      'INSERT INTO ferry_committed (tbl, pk, version, row)',
      4,
      effects
        .slice(start, start + 1_000)
        .map((e) => [e.table, e.pk, e.rowVersion, e.row === null ? null : JSON.stringify(e.row)]),
      'ON CONFLICT (tbl, pk) DO UPDATE SET version = excluded.version, row = excluded.row',
    );
  }
  await db.run(
    'DELETE FROM ferry_committed WHERE NOT EXISTS ' +
      '(SELECT 1 FROM ferry_inflight f WHERE f.tbl = ferry_committed.tbl AND f.pk = ferry_committed.pk)',
  );
}

export async function deleteFrozenChange(db: Executor, ord: number): Promise<void> {
  await db.run('DELETE FROM ferry_inflight WHERE ord = ?', [ord]);
}

/** Removes the changes `ords` from the bundle in flight, in one statement. */
export async function deleteFrozenChanges(db: Executor, ords: readonly number[]): Promise<void> {
  if (ords.length === 0) return;
  await db.run('DELETE FROM ferry_inflight WHERE ord IN (SELECT value FROM json_each(?))', [
    JSON.stringify(ords),
  ]);
}

/**
 * Ends the settled bundle in flight: removes it, and the next bundle of its source gets the next
 * id. A bundle left committed under a source id since rotated away does not move the new
 * source's numbering.
 */
export async function finishFrozenBundle(
  db: Executor,
  frozen: Pick<FrozenBundleHead, 'sourceId' | 'sourceBundleId'>,
  currentSourceId: string,
): Promise<void> {
  await clearFrozenBundle(db);
  if (frozen.sourceId === currentSourceId) {
    await writeState(db, 'next_source_bundle_id', frozen.sourceBundleId + 1);
  }
}

/**
 * Forgets what the server said of the bundle in flight (`committed_seq`, `ferry_committed`): it
 * belongs to a history the server may no longer have (a 410 `cursor_unknown`, a pull that found
 * another bundle at that seq, a snapshot past it). The bundle is sent again, and the server
 * answers a replay of it (it has it: the answer settles it), a gap (it lost it: it goes out
 * under the next id) or a stale id (the source rotates). No change is lost either way.
 */
export async function forgetCommit(db: Executor): Promise<void> {
  await db.run('UPDATE ferry_bundle SET committed_seq = NULL WHERE id = 1');
  await db.run('DELETE FROM ferry_committed');
}

/**
 * The server lost a commit of ours past the file's checkpoint (a pull found another bundle at
 * its seq, or a horizon below it), though the checkpoint itself is on its history: the commit is
 * forgotten ({@link forgetCommit}) and so are the versions above the checkpoint
 * ({@link forgetVersionsAbove}).
 */
export async function forgetLostCommit(db: Executor, checkpoint: number): Promise<void> {
  await forgetCommit(db);
  await forgetVersionsAbove(db, checkpoint);
}

/**
 * The server lost history past the file's checkpoint, though the checkpoint itself is on its
 * history (a restore from a backup taken after it): what the file learned above the checkpoint
 * other than by pulling (push and conflict answers) may name states of the lost history, whose
 * versions alias the new history's. Changes made on versions above the checkpoint keep the base
 * row they were made on but not its version (each meets a conflict and is merged by content), in
 * the bundle in flight, the outbox's pins, dead letters and manual conflicts.
 */
export async function forgetVersionsAbove(db: Executor, checkpoint: number): Promise<void> {
  await db.run('UPDATE ferry_inflight SET base_version = NULL WHERE base_version > ?', [
    checkpoint,
  ]);
  await db.run('UPDATE ferry_outbox SET pin_version = NULL WHERE pinned = 1 AND pin_version > ?', [
    checkpoint,
  ]);
  await db.run('UPDATE ferry_dead_letters SET base_version = NULL WHERE base_version > ?', [
    checkpoint,
  ]);
  await db.run(
    'UPDATE ferry_conflicts SET base_version = NULL, server_version = NULL ' +
      'WHERE server_version > ? OR base_version > ?',
    [checkpoint, checkpoint],
  );
}

/**
 * The server does not have the history the file followed (410 `cursor_unknown`: a server
 * restored from a backup, another database; or a snapshot that denies it): what the file knew of
 * it goes before the hydration that follows. The commit of the bundle in flight is forgotten
 * ({@link forgetCommit}), and so are the tombstones a hydration would otherwise keep: row
 * versions of one history say nothing about another's, and a tombstone from the lost one would
 * hide a row the server has at a lower version. That hydration also drops the versions local
 * changes were made on (see `applySnapshot`). `history_lost` is non-zero until it has (files of
 * earlier versions may hold 1 or 2: both mean lost).
 */
export async function forgetHistory(db: Executor): Promise<void> {
  await forgetCommit(db);
  await db.run('DELETE FROM ferry_rows WHERE deleted = 1');
  // The bases point (`bases-point.ts`) is of that history too.
  await db.run("DELETE FROM ferry_state WHERE key = 'bases_point'");
  await writeState(db, 'history_lost', 1);
}

/**
 * After a lost history, the versions local changes were made on are that history's: pins, the
 * bundle in flight, dead letters and manual conflicts keep their base rows but not the versions
 * (see `applySnapshot`).
 */
export async function dropLostHistoryVersions(db: Executor): Promise<void> {
  await db.run('UPDATE ferry_outbox SET pin_version = NULL WHERE pinned = 1');
  await db.run('UPDATE ferry_inflight SET base_version = NULL');
  await db.run('UPDATE ferry_dead_letters SET base_version = NULL');
  await db.run('UPDATE ferry_conflicts SET base_version = NULL, server_version = NULL');
}

/** One more round trip of the bundle in flight ended in a conflict it was rebased for. */
export async function countFrozenBundleAttempt(db: Executor): Promise<void> {
  await db.run('UPDATE ferry_bundle SET attempts = attempts + 1 WHERE id = 1');
}

/**
 * Records that the server committed bundle `sourceBundleId` (still the one in flight) as
 * `bundleSeq`; false when the bundle in flight is another one by now.
 */
export async function recordCommittedSeq(
  db: Executor,
  sourceBundleId: number,
  bundleSeq: number,
): Promise<boolean> {
  const changed = await db.run(
    'UPDATE ferry_bundle SET committed_seq = ? WHERE id = 1 AND source_bundle_id = ?',
    [bundleSeq, sourceBundleId],
  );
  return changed.changes > 0;
}

/**
 * The server expects bundle `sourceBundleId` next (a `bundle_gap`): the bundle in flight takes
 * that id, and so does the next one frozen.
 */
export async function renumberFrozenBundle(db: Executor, sourceBundleId: number): Promise<void> {
  await db.run('UPDATE ferry_bundle SET source_bundle_id = ? WHERE id = 1', [sourceBundleId]);
  await writeState(db, 'next_source_bundle_id', sourceBundleId);
}

/**
 * A rotation of the source id: a bundle in flight that did not commit goes out under `sourceId`
 * as its bundle 1, its attempts counted anew. One that committed keeps its source.
 */
export async function moveFrozenBundleToSource(db: Executor, sourceId: string): Promise<void> {
  await db.run(
    'UPDATE ferry_bundle SET source_id = ?, source_bundle_id = 1, attempts = 0 ' +
      'WHERE id = 1 AND committed_seq IS NULL',
    [sourceId],
  );
}

/** Whether the bundle in flight committed at or below the checkpoint (a pull will not bring it). */
export async function frozenBundleCommittedByCheckpoint(db: Executor): Promise<boolean> {
  const rows = await db.all(
    "SELECT 1 FROM ferry_bundle b JOIN ferry_state s ON s.key = 'checkpoint' " +
      'WHERE b.id = 1 AND b.committed_seq IS NOT NULL AND b.committed_seq <= s.value',
  );
  return rows.length > 0;
}

/** Whether anything waits to be pushed (in the outbox, or still in the capture log). */
export async function hasPendingChanges(db: Executor): Promise<boolean> {
  const rows = await db.all<{ n: number }>(
    'SELECT EXISTS (SELECT 1 FROM ferry_outbox) OR EXISTS (SELECT 1 FROM ferry_log WHERE tbl IS NOT NULL) AS n',
  );
  return rows[0]?.n === 1;
}

/** The counts the status shows, read together. */
export interface LocalCounts {
  /** Rows with a pending change. */
  readonly pending: number;
  /** When the oldest pending or in-flight change was made. */
  readonly oldest: number | null;
  readonly conflicts: number;
  readonly settled: number;
  readonly dead: number;
}

export async function readLocalCounts(db: Executor): Promise<LocalCounts> {
  const rows = await db.all<{
    pending: number;
    oldest: number | null;
    conflicts: number;
    settled: number;
    dead: number;
  }>(
    'SELECT (SELECT count(*) FROM ferry_outbox) AS pending, ' +
      '(SELECT min(m) FROM (SELECT min(first_at) AS m FROM ferry_outbox UNION ALL SELECT min(first_at) FROM ferry_inflight)) AS oldest, ' +
      '(SELECT count(*) FROM ferry_conflicts) AS conflicts, (SELECT count(*) FROM ferry_settled_conflicts) AS settled, ' +
      '(SELECT count(*) FROM ferry_dead_letters) AS dead',
  );
  return rows[0]!;
}

/** Removes the bundle in flight entirely. */
export async function clearFrozenBundle(db: Executor): Promise<void> {
  await db.run('DELETE FROM ferry_inflight');
  await db.run('DELETE FROM ferry_bundle');
  await db.run('DELETE FROM ferry_committed');
}

/**
 * What an upsert made on no base row says of its base (`wireChangeOf`, and the freeze's spliced
 * JSON, alike):
 * - a base version without a base row is a tombstone: the device re-creates a row it saw
 *   deleted (`baseDeleted`);
 * - an update (`U`) of a row the file knows no server state of is an insert the file's past may
 *   have pushed under a source id it left (`settleInsertsOnRotation` made it `U`): `maybePushed`;
 * - else, a plain insert.
 */
export function baseClaimOf(
  letter: PendingOp,
  baseVersion: number | null,
): 'baseDeleted' | 'maybePushed' | null {
  if (baseVersion !== null) return 'baseDeleted';
  return letter === 'U' ? 'maybePushed' : null;
}

/**
 * The `deltas` of an upsert made on a base row (`wireChangeOf`, and the freeze's spliced JSON,
 * alike): what it added to each counter among its changed columns, when it has a base version
 * for the server to add them on (a base row without one, after the server lost its history,
 * meets the server's row by content: no deltas).
 */
export function wireDeltasOf(
  table: Table | undefined,
  row: Row,
  base: Row,
  columns: readonly string[],
  baseVersion: number | null,
): Record<string, number> | undefined {
  if (table === undefined || baseVersion === null) return undefined;
  return counterDeltas(table, row, base, columns);
}

/**
 * The change as it goes on the wire; the same JSON every time it is sent. An upsert of a row the
 * server has (a base) names the columns it changed against that base, so the server writes only
 * those, and for the counters among them what it added (`deltas`, from the table in `schema`); an
 * insert carries the whole row, and what it knows of its base ({@link baseClaimOf}).
 */
export function wireChangeOf(change: FrozenChange, schema: Pick<Schema, 'table'>): Change {
  const { tbl: table, pk, baseVersion } = change;
  if (change.op === 'delete') return { table, pk, op: 'delete', baseVersion };
  const row = change.row ?? {};
  if (change.base !== null) {
    const columns = changedColumns(row, change.base);
    const deltas = wireDeltasOf(schema.table(table), row, change.base, columns, baseVersion);
    return {
      table,
      pk,
      op: 'upsert',
      baseVersion,
      row,
      columns,
      ...(deltas === undefined ? {} : { deltas }),
    };
  }
  const claim = baseClaimOf(change.letter, baseVersion);
  return {
    table,
    pk,
    op: 'upsert',
    baseVersion,
    row,
    ...(claim === null ? {} : { [claim]: true }),
  };
}

export function parseRow(text: string | null): Row | null {
  if (text === null) return null;
  return JSON.parse(text) as Row;
}

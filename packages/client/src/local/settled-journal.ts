/**
 * The journal of settled conflicts (`ferry_settled_conflicts`): what conflict policies replaced,
 * bounded to the newest entries. Rows in, rows out; the settlement decides what goes in.
 *
 * @module
 */
import type { ConflictSide, PrimaryKey } from '@ferry/protocol';
import type { SqlValue } from '../driver/sqlite-driver.js';
import type { SettledConflict } from '../types.js';
import { insertMany } from './insert-many.js';
import { parseRow, type Executor } from './metadata.js';

/** How many entries the journal keeps by default (`maxSettledConflicts`). */
export const DEFAULT_MAX_SETTLED_CONFLICTS = 1_000;

/** An entry to journal: a {@link SettledConflict} before it has an id. */
export type SettledConflictDraft = Omit<SettledConflict, 'id'>;

/**
 * Appends entries in order and prunes the journal to its newest `keep` entries, in the caller's
 * transaction (the one that settles the conflicts, so an entry exists exactly when its
 * settlement committed). Returns the entries with their ids.
 */
export async function journalSettledConflicts(
  tx: Executor,
  drafts: readonly SettledConflictDraft[],
  keep: number,
): Promise<SettledConflict[]> {
  if (drafts.length === 0) return [];
  await insertMany(
    tx,
    'INSERT INTO ferry_settled_conflicts (tbl, pk, rule, loser, columns, lost, won, server_version, source_bundle_id, at)',
    10,
    drafts.map((d) => [
      d.table,
      d.pk as SqlValue,
      d.rule,
      d.loser,
      JSON.stringify(d.columns),
      d.lost === null ? null : JSON.stringify(d.lost),
      d.won === null ? null : JSON.stringify(d.won),
      d.serverVersion,
      d.sourceBundleId,
      d.at,
    ]),
  );
  // AUTOINCREMENT ids of one transaction are consecutive and above every earlier one.
  const last = await tx.all<{ id: number }>('SELECT max(id) AS id FROM ferry_settled_conflicts');
  const lastId = last[0]!.id;
  await tx.run(
    'DELETE FROM ferry_settled_conflicts WHERE id <= ' +
      '(SELECT id FROM ferry_settled_conflicts ORDER BY id DESC LIMIT 1 OFFSET ?)',
    [keep],
  );
  return drafts.map((d, i) => ({ id: lastId - drafts.length + 1 + i, ...d }));
}

/**
 * Entries newest first: at most `limit` (-1: all), made at or after `since` (clock ms) when
 * given.
 */
export async function readSettledConflicts(
  db: Executor,
  query: { readonly limit: number; readonly since: number | undefined },
): Promise<SettledConflict[]> {
  const rows = await db.all<{
    id: number;
    tbl: string;
    pk: PrimaryKey;
    rule: string;
    loser: ConflictSide;
    columns: string;
    lost: string | null;
    won: string | null;
    server_version: number | null;
    source_bundle_id: number;
    at: number;
  }>(
    'SELECT id, tbl, pk, rule, loser, columns, lost, won, server_version, source_bundle_id, at ' +
      'FROM ferry_settled_conflicts WHERE at >= ? ORDER BY id DESC LIMIT ?',
    [query.since ?? Number.MIN_SAFE_INTEGER, query.limit],
  );
  return rows.map((r) => ({
    id: r.id,
    table: r.tbl,
    pk: r.pk,
    rule: r.rule,
    loser: r.loser,
    columns: JSON.parse(r.columns) as string[],
    lost: parseRow(r.lost),
    won: parseRow(r.won),
    serverVersion: r.server_version,
    sourceBundleId: r.source_bundle_id,
    at: r.at,
  }));
}

/** Removes the entries up to id `throughId` (all when undefined); returns how many. */
export async function clearSettledConflicts(
  db: Executor,
  throughId: number | undefined,
): Promise<number> {
  const result = await db.run('DELETE FROM ferry_settled_conflicts WHERE id <= ?', [
    throughId ?? Number.MAX_SAFE_INTEGER,
  ]);
  return result.changes;
}

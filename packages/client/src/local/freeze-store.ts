/**
 * The statements of a freeze on the metadata tables: the pending entries it reads with their
 * row state, the rows parked in dead letters and manual conflicts, the pending children that
 * reference a row, and the bundle it stores (`ferry_bundle`, `ferry_inflight`, the entries leaving
 * `ferry_outbox`). The decisions are `outbox/freeze-bundle.ts`'s.
 *
 * @module
 */
import type { Reference, Table } from '@ferry/protocol';
import type { SqlValue } from '../driver/sqlite-driver.js';
import { insertMany } from './insert-many.js';
import { quoteIdent, quoteLiteral } from './local-schema-sql.js';
import {
  parseRow,
  pendingOf,
  type Executor,
  type FrozenChange,
  type PendingEntry,
  type PendingSqlRow,
  type RowState,
} from './metadata.js';

/** A pending entry with its row's server state (`ferry_rows`), as the freeze reads it. */
export interface FreezeCandidate extends PendingEntry {
  readonly known: RowState | undefined;
  /** The stored text of the pin's base and of the known base, to store again as they are. */
  readonly pinBaseJson: string | null;
  readonly knownBaseJson: string | null;
}

/**
 * Pending entries in push order, at most `limit`, each with its row state: the first ones, or
 * those after `after` (the last entry of the page before; the push-order index seeks to it).
 */
export async function readFreezeCandidates(
  tx: Executor,
  limit: number,
  after?: Pick<FreezeCandidate, 'lastGroup' | 'firstGroup' | 'tbl' | 'pk'>,
): Promise<FreezeCandidate[]> {
  // The push-order index covers the order and the primary key: a seek, then a walk.
  const rows = await tx.all<
    PendingSqlRow & { r_version: number | null; r_deleted: number | null; r_base: string | null }
  >(
    'SELECT o.tbl, o.pk, o.op, o.first_group, o.last_group, o.first_at, o.pinned, o.pin_version, o.pin_base, ' +
      'r.version AS r_version, r.deleted AS r_deleted, r.base AS r_base ' +
      'FROM ferry_outbox o LEFT JOIN ferry_rows r ON r.tbl = o.tbl AND r.pk = o.pk ' +
      (after ? 'WHERE (o.last_group, o.first_group, o.tbl, o.pk) > (?, ?, ?, ?) ' : '') +
      'ORDER BY o.last_group, o.first_group, o.tbl, o.pk LIMIT ?',
    after ? [after.lastGroup, after.firstGroup, after.tbl, after.pk as SqlValue, limit] : [limit],
  );
  return rows.map((row) => ({
    ...pendingOf(row),
    known:
      row.r_version === null
        ? undefined
        : { version: row.r_version, deleted: row.r_deleted === 1, base: parseRow(row.r_base) },
    pinBaseJson: row.pin_base,
    knownBaseJson: row.r_base,
  }));
}

/**
 * The first write group of the pending entries whose last group is `lastGroup` or later (null
 * when there is none): where the rest of the outbox starts when the freeze loaded only a prefix.
 */
export async function firstGroupPendingFrom(
  tx: Executor,
  lastGroup: number,
): Promise<number | null> {
  const rows = await tx.all<{ m: number | null }>(
    'SELECT min(first_group) AS m FROM ferry_outbox WHERE last_group >= ?',
    [lastGroup],
  );
  return rows[0]?.m ?? null;
}

/** A frozen change with the stored JSON of its base and row (kept as the freeze serialised them). */
export interface StoredChange {
  readonly change: FrozenChange;
  readonly baseJson: string | null;
  readonly rowJson: string | null;
}

/** Changes stored between two chances for the event loop to turn. */
const STORE_STEP = 1_000;

const INSERT_INFLIGHT_HEAD =
  'INSERT INTO ferry_inflight (ord, tbl, pk, letter, op, base_version, base, row, first_group, last_group, first_at, conflicts)';

/**
 * Stores a newly frozen bundle: its header, its changes in `ferry_inflight` (multi-row), and
 * its entries leave `ferry_outbox`, so that `ferry_inflight` holds exactly this bundle's changes.
 */
export async function storeFrozenBundle(
  tx: Executor,
  head: { readonly sourceId: string; readonly sourceBundleId: number; readonly frozenAt: number },
  changes: readonly StoredChange[],
): Promise<void> {
  await tx.run(
    'INSERT INTO ferry_bundle (id, source_id, source_bundle_id, frozen_at, attempts, committed_seq) VALUES (1, ?, ?, ?, 0, NULL)',
    [head.sourceId, head.sourceBundleId, head.frozenAt],
  );
  for (let start = 0; start < changes.length; start += STORE_STEP) {
    if (start > 0) await tx.pause?.();
    await insertMany(
      tx,
      INSERT_INFLIGHT_HEAD,
      12,
      changes
        .slice(start, start + STORE_STEP)
        .map(({ change: c, baseJson, rowJson }) => [
          c.ord,
          c.tbl,
          c.pk as SqlValue,
          c.letter,
          c.op,
          c.baseVersion,
          baseJson,
          rowJson,
          c.firstGroup,
          c.lastGroup,
          c.firstAt,
          c.conflicts,
        ]),
    );
  }
  await tx.run('DELETE FROM ferry_outbox WHERE (tbl, pk) IN (SELECT tbl, pk FROM ferry_inflight)');
}

/** The rows parked in dead letters or manual conflicts (they are not pushed now). */
export async function readParkedRows(tx: Executor): Promise<{ tbl: string; pk: SqlValue }[]> {
  return tx.all<{ tbl: string; pk: SqlValue }>(
    'SELECT tbl, pk FROM ferry_dead_letters UNION SELECT tbl, pk FROM ferry_conflicts',
  );
}

/**
 * The pending upserts of `table` whose local row references a parent through `reference`
 * (`ref`: the parent's key), for the rows a parked parent blocks.
 */
export async function readPendingReferences(
  tx: Executor,
  table: Table,
  reference: Reference,
): Promise<{ pk: SqlValue; ref: SqlValue }[]> {
  const column = quoteIdent(reference.column);
  return tx.all<{ pk: SqlValue; ref: SqlValue }>(
    `SELECT o.pk AS pk, c.${column} AS ref FROM ferry_outbox o ` +
      `JOIN ${quoteIdent(table.name)} c ON c.${quoteIdent(table.primaryKey)} = o.pk ` +
      `WHERE o.tbl = ${quoteLiteral(table.name)} AND o.op != 'D' AND c.${column} IS NOT NULL`,
  );
}

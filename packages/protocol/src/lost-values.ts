/**
 * What an automatic conflict settlement throws away: the values of either side that do not
 * stand after the outcome. Pure. The client journals every result (`ferry_settled_conflicts`),
 * so nothing a policy settles disappears without a trace.
 *
 * @module
 */
import { changedSinceBase, isMergedColumn, valuesEqual, type ResolverOutcome } from './merge.js';
import type { Row, Table } from './schema.js';

/** The two sides of a conflict: this device's change, and the server's row. */
export const CONFLICT_SIDES = ['local', 'server'] as const;
/** One of {@link CONFLICT_SIDES}. */
export type ConflictSide = (typeof CONFLICT_SIDES)[number];

/** The values one side lost in a settlement (see {@link lostValuesOf}). */
export interface LostValues {
  /** Whose values lost: the local change's, or the server row's (another writer's edit). */
  readonly loser: ConflictSide;
  /**
   * The columns whose losing value was dropped; every merged column when a whole row lost (to
   * a delete) or a delete lost (to a row).
   */
  readonly columns: readonly string[];
  /** The losing values by column; null when the losing side had deleted the row. */
  readonly lost: Row | null;
  /** The values that stand instead, by column; null when the row ends up deleted. */
  readonly won: Row | null;
}

/** Input of {@link lostValuesOf}: the conflict's three rows and how it was decided. */
export interface SettlementInput {
  readonly table: Table;
  /** The local change's row; null for a local delete. */
  readonly local: Row | null;
  /** The row the local change was made on; null when it had none. */
  readonly base: Row | null;
  /** The server's row; null when it is deleted or never existed. */
  readonly server: Row | null;
  /** The server holds the row as a tombstone (its null is a delete, not an absence). */
  readonly serverDeleted: boolean;
  /** The outcome `decideConflictOutcome` gave. */
  readonly outcome: ResolverOutcome;
}

/**
 * The row that stands after an outcome: the server's for `adopt-server`, the rebased row laid
 * over the server's for `rebase` (null: deleted), undefined for `manual` (nothing settled).
 */
export function settledRowOf(outcome: ResolverOutcome, server: Row | null): Row | null | undefined {
  switch (outcome.kind) {
    case 'adopt-server':
      return server;
    case 'rebase':
      return outcome.row === null ? null : { ...(server ?? {}), ...outcome.row };
    case 'manual':
      return undefined;
  }
}

/**
 * Decides which values an automatic settlement drops, for each side. Only merged columns count
 * (not the primary key, the owner or server-derived columns), and "changed" is
 * {@link changedSinceBase}, as in the merge.
 *
 * | the side had                                | the settled row               | lost                                         |
 * | ------------------------------------------- | ----------------------------- | -------------------------------------------- |
 * | a row, with columns changed since the base  | a row without those values    | those columns: side's values → settled ones  |
 * | a row that changed anything (or no base)    | none (deleted)                | the whole row → null                         |
 * | a delete (the server: a tombstone)          | a row                         | null (the delete) → the whole settled row    |
 * | nothing (the server never had the row)      | anything                      | nothing                                      |
 * | the same values, or a delete that stands    | —                             | nothing                                      |
 *
 * A `manual` outcome drops nothing. The local side comes first.
 *
 * @example
 * // field-merge, both changed `title`, the server's rule wins:
 * lostValuesOf({ table, local: { title: 'a' }, base: { title: 't' }, server: { title: 'b' },
 *   serverDeleted: false, outcome: { kind: 'adopt-server' } });
 * // [{ loser: 'local', columns: ['title'], lost: { title: 'a' }, won: { title: 'b' } }]
 */
export function lostValuesOf(input: SettlementInput): LostValues[] {
  const settled = settledRowOf(input.outcome, input.server);
  if (settled === undefined) return [];
  const { table, local, base, server } = input;
  const losses: LostValues[] = [];
  const localLoss = lossOf(table, 'local', local, local === null, server, base, settled);
  if (localLoss) losses.push(localLoss);
  const serverLoss = lossOf(table, 'server', server, input.serverDeleted, local, base, settled);
  if (serverLoss) losses.push(serverLoss);
  return losses;
}

function lossOf(
  table: Table,
  loser: ConflictSide,
  side: Row | null,
  sideDeleted: boolean,
  other: Row | null,
  base: Row | null,
  settled: Row | null,
): LostValues | undefined {
  const merged = table.columns.filter(isMergedColumn).map((c) => c.name);
  if (side === null) {
    // No row on this side: only a delete can lose, and only to a row.
    if (!sideDeleted || settled === null) return undefined;
    return { loser, columns: merged, lost: null, won: pick(settled, merged) };
  }
  const changed = merged.filter((name) => changedSinceBase(side, other ?? {}, base, name));
  if (settled === null) {
    if (base !== null && changed.length === 0) return undefined;
    return { loser, columns: merged, lost: pick(side, merged), won: null };
  }
  const dropped = changed.filter((name) => !valuesEqual(side[name], settled[name]));
  if (dropped.length === 0) return undefined;
  return { loser, columns: dropped, lost: pick(side, dropped), won: pick(settled, dropped) };
}

function pick(row: Row, columns: readonly string[]): Row {
  const out: Row = {};
  for (const name of columns) out[name] = row[name] === undefined ? null : row[name];
  return out;
}

/**
 * Pure coalescing of captured changes: what one pending outbox entry becomes when another
 * change of the same row is captured, and how the capture log folds into the outbox.
 *
 * @module
 */
import type { PendingHead, PendingOp } from '../local/metadata.js';

export type { PendingHead, PendingOp };

/** A line of `ferry_log`: a captured change, or the `B` marker that starts a `client.write`. */
export interface LogLine {
  readonly seq: number;
  readonly tbl: string | null;
  readonly pk: unknown;
  readonly op: PendingOp | 'B';
  readonly at: number | null;
}

/**
 * The coalescing rule: `previous` pending op followed by `next` captured op. `null` means
 * nothing is left to push.
 *
 * | previous | I | U | D |
 * |---|---|---|---|
 * | none | I | U | D |
 * | I | I | I | none (never pushed, now gone); D when the server has the row alive |
 * | U | U | U | D |
 * | D | U (re-insert of a known row) | U | D |
 *
 * `serverHasRow`: the file knows the row alive on the server (an `I` entry can meet one: a
 * dead letter retried after a peer's insert of the same key came in, a copy's twin pushed it):
 * its delete must go out, not vanish with the insert.
 */
export function coalesce(
  previous: PendingOp | undefined,
  next: PendingOp,
  serverHasRow = false,
): PendingOp | null {
  if (previous === undefined) return next;
  switch (previous) {
    case 'I':
      if (next === 'D') return serverHasRow ? 'D' : null;
      return 'I';
    case 'U':
      return next === 'D' ? 'D' : 'U';
    case 'D':
      return next === 'D' ? 'D' : 'U';
  }
}

/** Where folding stands between two chunks of the log. */
export interface FoldCursor {
  /** The current write group, or null before the first marker of this fold. */
  readonly group: number | null;
  /** The current group's time. */
  readonly at: number | null;
}

/** Result of {@link foldLog}. */
export interface FoldResult {
  /** New state of every row touched: a head to store, or null to remove its entry. */
  readonly heads: ReadonlyMap<string, PendingHead | null>;
  readonly cursor: FoldCursor;
}

/** The map key of a row. */
export function rowKeyOf(tbl: string, pk: unknown): string {
  return `${tbl}\u0000${typeof pk}\u0000${String(pk)}`;
}

/**
 * Folds log lines (ascending `seq`) into pending heads.
 *
 * Invariants:
 * 1. Each row ends with at most one head, whose op is the {@link coalesce} of its old op and
 *    every captured op in order.
 * 2. `firstGroup` only moves when an entry is created; `lastGroup` is the group of the latest
 *    change. Lines before the first marker belong to one group: they come from SQL writes made
 *    outside `client.write`, which are never split from each other.
 * 3. `lookup` is asked once per row; later lines see the folded state.
 * 4. `serverHasRow` says whether the server has the row alive, as far as the file knows (it
 *    does not change during a fold).
 */
export function foldLog(
  lines: readonly LogLine[],
  lookup: (tbl: string, pk: unknown) => PendingHead | undefined,
  cursor: FoldCursor,
  now: number,
  serverHasRow: (tbl: string, pk: unknown) => boolean = () => false,
): FoldResult {
  const heads = new Map<string, PendingHead | null>();
  let group = cursor.group;
  let at = cursor.at;
  for (const line of lines) {
    if (line.op === 'B') {
      group = line.seq;
      at = line.at ?? now;
      continue;
    }
    if (line.tbl === null) continue;
    if (group === null) {
      group = line.seq;
      at = now;
    }
    const key = rowKeyOf(line.tbl, line.pk);
    const previous = heads.has(key) ? heads.get(key) : lookup(line.tbl, line.pk);
    const op = coalesce(previous?.op, line.op, serverHasRow(line.tbl, line.pk));
    if (op === null) {
      heads.set(key, null);
    } else if (previous) {
      heads.set(key, { ...previous, op, lastGroup: group });
    } else {
      heads.set(key, {
        tbl: line.tbl,
        pk: line.pk,
        op,
        firstGroup: group,
        lastGroup: group,
        firstAt: at ?? now,
      });
    }
  }
  return { heads, cursor: { group, at } };
}

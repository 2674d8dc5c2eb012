import type { HistoryPoint, SnapshotAfterHistory } from '@ferry/protocol';

/** A pull cursor as a client sends it. */
export interface PullCursor {
  /** The last bundleSeq the client applied (0: none). */
  readonly after: number;
  /** The history token the client holds for bundle `after`, when it sent one. */
  readonly token?: string | undefined;
}

/** What the server knows of one user's history, read in the same transaction as the pull. */
export interface CursorState {
  /** The user's highest committed bundleSeq (0 before the first). */
  readonly lastSeq: number;
  /** Bundles up to and including this seq have been pruned (0 when none). */
  readonly prunedThrough: number;
  /** The token of bundle `prunedThrough`, kept when it was pruned (null: none or unknown). */
  readonly prunedToken: string | null;
  /**
   * The token of bundle `after` while it is retained; null when it has none (committed before
   * the server had tokens) or is not retained.
   */
  readonly afterToken: string | null;
}

/** Why a cursor is refused; see {@link decideCursor}. */
export type CursorDecision =
  | { readonly kind: 'history_pruned' }
  | { readonly kind: 'cursor_unknown'; readonly reason: 'ahead' | 'history_diverged' };

/**
 * Checks a pull cursor against the user's history, in this order:
 *
 * 1. `after` greater than the last seq: `cursor_unknown` / `ahead` (the client has seen bundles
 *    this database never committed: a restored backup, or another database).
 * 2. `after` older than the retained history: `history_pruned`.
 * 3. A token was sent, `after > 0`, and the server's token of bundle `after` (the one kept at
 *    the prune boundary when `after == prunedThrough`) is known and differs:
 *    `cursor_unknown` / `history_diverged` (the client followed another history up to `after`).
 * 4. Otherwise null: the cursor is good. An unknown stored token (a bundle from before tokens)
 *    skips the comparison.
 *
 * Every refusal means the same to the client: hydrate from a snapshot.
 */
export function decideCursor(cursor: PullCursor, state: CursorState): CursorDecision | null {
  const { after, token } = cursor;
  if (after > state.lastSeq) return { kind: 'cursor_unknown', reason: 'ahead' };
  if (after < state.prunedThrough) return { kind: 'history_pruned' };
  if (token === undefined || after === 0) return null;
  const stored = after === state.prunedThrough ? state.prunedToken : state.afterToken;
  if (stored !== null && stored !== token) {
    return { kind: 'cursor_unknown', reason: 'history_diverged' };
  }
  return null;
}

/**
 * Checks a push's `basesAt`: the newest history point the client's push and conflict answers
 * told it of, above its checkpoint. The versions its changes are based on may come from there, so
 * they are judged only on the history that point belongs to. The rule of {@link decideCursor},
 * but a point older than the retained history passes (as a pruned checkpoint is taken for the
 * same history, nothing can tell otherwise) and a point without a stored token to compare passes.
 * Tokens chain, so a point on the history vouches for every bundle before it. Pure.
 */
export function decideBasesAt(
  point: HistoryPoint,
  state: CursorState,
): Extract<CursorDecision, { kind: 'cursor_unknown' }> | null {
  const decision = decideCursor({ after: point.bundleSeq, token: point.token }, state);
  return decision?.kind === 'cursor_unknown' ? decision : null;
}

/**
 * What a snapshot's header says of the client's checkpoint: the cursor rule of
 * {@link decideCursor}, applied in the snapshot's own read. Pure.
 *
 * | decideCursor | afterHistory |
 * |---|---|
 * | null (a good cursor) | `kept` |
 * | `history_pruned` | `pruned` |
 * | `cursor_unknown` (ahead, or another history) | `lost` |
 */
export function snapshotAfterHistory(cursor: PullCursor, state: CursorState): SnapshotAfterHistory {
  const decision = decideCursor(cursor, state);
  if (decision === null) return 'kept';
  return decision.kind === 'history_pruned' ? 'pruned' : 'lost';
}

/** How much pull history the server keeps per user. */
export interface RetentionPolicy {
  /** Keep at most this many of a user's most recent bundles (undefined: no count limit). */
  readonly maxBundlesPerUser?: number | undefined;
  /** Drop bundles committed longer ago than this (undefined: no age limit). */
  readonly maxAgeMs?: number | undefined;
}

/** The facts about one user that {@link decidePruneThrough} needs. */
export interface RetentionState {
  readonly lastSeq: number;
  readonly prunedThrough: number;
  /** The highest seq of a bundle older than the age limit, or 0 (undefined without one). */
  readonly newestExpiredSeq: number | undefined;
}

/**
 * The seq through which a user's bundles may be pruned, never less than what is already
 * pruned. Pruning only removes pull history: a client behind it gets 410 `history_pruned` and
 * hydrates from a snapshot; the stored answer of each source's last push is kept elsewhere,
 * so replays stay exact.
 */
export function decidePruneThrough(state: RetentionState, policy: RetentionPolicy): number {
  let through = state.prunedThrough;
  if (policy.maxBundlesPerUser !== undefined) {
    through = Math.max(through, state.lastSeq - policy.maxBundlesPerUser);
  }
  if (policy.maxAgeMs !== undefined && state.newestExpiredSeq !== undefined) {
    through = Math.max(through, state.newestExpiredSeq);
  }
  return Math.min(through, state.lastSeq);
}

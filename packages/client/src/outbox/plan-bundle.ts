/**
 * Pure choice of how many pending entries go into the next bundle.
 *
 * @module
 */

/** One pending entry, in push order (ascending `lastGroup`, then `firstGroup`). */
export interface CutCandidate {
  readonly firstGroup: number;
  readonly lastGroup: number;
  /** Size of the change's JSON, in bytes. */
  readonly bytes: number;
}

/** Limits of one bundle. */
export interface BundleLimits {
  readonly maxChanges: number;
  readonly maxBytes: number;
}

/** Result of {@link chooseBundleCut}. */
export interface BundleCut {
  /** How many candidates, from the front, go into the bundle. */
  readonly take: number;
  /** True when a write had to be split because its changes alone exceed the limits. */
  readonly splitsWrite: boolean;
}

/**
 * Chooses the bundle: the longest prefix of `candidates` that fits `limits` and is closed, i.e.
 * no entry left out belongs to a write group that ended inside the prefix (the changes of one
 * `client.write` never go out in two bundles).
 *
 * `restMinFirstGroup` is the smallest `firstGroup` among pending entries that are not in
 * `candidates` (null when `candidates` holds them all).
 *
 * Invariants:
 * 1. `take <= candidates.length`; `take === 0` only for an empty list.
 * 2. Without `splitsWrite`, the prefix fits the limits (the first entry always goes, even when
 *    it alone is larger) and is closed.
 * 3. When no closed prefix fits, the largest fitting prefix goes and `splitsWrite` is true.
 */
export function chooseBundleCut(
  candidates: readonly CutCandidate[],
  restMinFirstGroup: number | null,
  limits: BundleLimits,
): BundleCut {
  const n = candidates.length;
  if (n === 0) return { take: 0, splitsWrite: false };
  // suffixMin[k] = smallest firstGroup among candidates[k..] and the rest.
  const suffixMin = new Array<number>(n + 1);
  suffixMin[n] = restMinFirstGroup ?? Infinity;
  for (let k = n - 1; k >= 0; k--) {
    suffixMin[k] = Math.min(candidates[k]!.firstGroup, suffixMin[k + 1]!);
  }
  let fitting = 0;
  let bytes = 0;
  for (let k = 0; k < n; k++) {
    bytes += candidates[k]!.bytes;
    if (k > 0 && (k + 1 > limits.maxChanges || bytes > limits.maxBytes)) break;
    fitting = k + 1;
  }
  const prefixMaxLast = new Array<number>(fitting + 1);
  prefixMaxLast[0] = -Infinity;
  for (let k = 0; k < fitting; k++) {
    prefixMaxLast[k + 1] = Math.max(prefixMaxLast[k]!, candidates[k]!.lastGroup);
  }
  for (let take = fitting; take >= 1; take--) {
    if (suffixMin[take]! > prefixMaxLast[take]!) return { take, splitsWrite: false };
  }
  return { take: fitting, splitsWrite: true };
}

/** A token bucket per user: `requestsPerSecond` refill, up to `burst` saved up. */
export interface RateLimit {
  readonly requestsPerSecond: number;
  readonly burst: number;
}

/** The state of one bucket. */
export interface BucketState {
  readonly tokens: number;
  readonly updatedAt: number;
}

/** Outcome of {@link takeToken}. */
export type TakeResult =
  | { readonly ok: true; readonly state: BucketState }
  | { readonly ok: false; readonly state: BucketState; readonly retryAfterSeconds: number };

/** Takes one token from a bucket at time `now` (ms). Pure. */
export function takeToken(
  state: BucketState | undefined,
  now: number,
  limit: RateLimit,
): TakeResult {
  const previous = state ?? { tokens: limit.burst, updatedAt: now };
  const elapsed = Math.max(0, now - previous.updatedAt) / 1000;
  const tokens = Math.min(limit.burst, previous.tokens + elapsed * limit.requestsPerSecond);
  if (tokens >= 1) return { ok: true, state: { tokens: tokens - 1, updatedAt: now } };
  const retryAfterSeconds = Math.max(1, Math.ceil((1 - tokens) / limit.requestsPerSecond));
  return { ok: false, state: { tokens, updatedAt: now }, retryAfterSeconds };
}

/** Per-user buckets in memory, with idle ones forgotten. */
export class RateLimiter {
  readonly #limit: RateLimit;
  readonly #buckets = new Map<string, BucketState>();

  constructor(limit: RateLimit) {
    this.#limit = limit;
  }

  /** Takes a token for `userId`; the seconds to wait when none is left. */
  take(userId: string, now: number): { ok: true } | { ok: false; retryAfterSeconds: number } {
    if (this.#buckets.size > 10_000) this.#sweep(now);
    const result = takeToken(this.#buckets.get(userId), now, this.#limit);
    this.#buckets.set(userId, result.state);
    return result.ok ? { ok: true } : { ok: false, retryAfterSeconds: result.retryAfterSeconds };
  }

  #sweep(now: number): void {
    const full = (this.#limit.burst / this.#limit.requestsPerSecond) * 1000;
    for (const [userId, state] of this.#buckets) {
      if (now - state.updatedAt > full) this.#buckets.delete(userId);
    }
  }
}

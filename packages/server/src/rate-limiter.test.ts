import { describe, expect, it } from 'vitest';
import { RateLimiter, takeToken } from './rate-limiter.js';

describe('the rate limiter', () => {
  it('allows a burst, then refills at the rate and says how long to wait', () => {
    const limit = { requestsPerSecond: 2, burst: 3 };
    let state = undefined;
    for (let i = 0; i < 3; i++) {
      const taken = takeToken(state, 1_000, limit);
      expect(taken.ok).toBe(true);
      state = taken.state;
    }
    const refused = takeToken(state, 1_000, limit);
    expect(refused).toMatchObject({ ok: false, retryAfterSeconds: 1 });
    expect(takeToken(refused.state, 1_500, limit).ok).toBe(true);
  });

  it('keeps one bucket per user', () => {
    const limiter = new RateLimiter({ requestsPerSecond: 1, burst: 1 });
    expect(limiter.take('a', 0).ok).toBe(true);
    expect(limiter.take('a', 0).ok).toBe(false);
    expect(limiter.take('b', 0).ok).toBe(true);
  });
});

import { describe, expect, it } from 'vitest';
import {
  DEFAULT_BACKOFF,
  backoffBound,
  backoffCeiling,
  backoffDelay,
  resolveBackoffOptions,
} from './backoff.js';
import { createSeededRandom } from './seeded-random.js';

const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
console.log(`backoff tests: SEED=${seed}`);

describe('backoffDelay', () => {
  it('stays within the full-jitter bounds for attempts 0..20', () => {
    const random = createSeededRandom(seed);
    for (let attempt = 0; attempt <= 20; attempt++) {
      const ceiling = Math.min(DEFAULT_BACKOFF.capMs, DEFAULT_BACKOFF.baseMs * 2 ** attempt);
      let max = 0;
      for (let i = 0; i < 200; i++) {
        const delay = backoffDelay({ attempt }, DEFAULT_BACKOFF, random);
        expect(delay, `seed ${seed}, attempt ${attempt}`).toBeGreaterThanOrEqual(0);
        expect(delay, `seed ${seed}, attempt ${attempt}`).toBeLessThan(ceiling);
        expect(Number.isInteger(delay)).toBe(true);
        max = Math.max(max, delay);
      }
      // Full jitter uses the whole window, not just its top (which would be "equal jitter").
      expect(max, `seed ${seed}, attempt ${attempt}`).toBeGreaterThan(ceiling / 2);
    }
  });

  it('maps the random number linearly onto [0, ceiling)', () => {
    expect(backoffDelay({ attempt: 3 }, DEFAULT_BACKOFF, () => 0)).toBe(0);
    expect(backoffDelay({ attempt: 3 }, DEFAULT_BACKOFF, () => 0.5)).toBe(4_000);
    expect(backoffDelay({ attempt: 3 }, DEFAULT_BACKOFF, () => 0.999_999)).toBe(7_999);
  });

  it('doubles the ceiling per attempt from 1 s up to the 15 min cap', () => {
    expect(backoffCeiling(0, 1_000, 900_000)).toBe(1_000);
    expect(backoffCeiling(1, 1_000, 900_000)).toBe(2_000);
    expect(backoffCeiling(9, 1_000, 900_000)).toBe(512_000);
    expect(backoffCeiling(10, 1_000, 900_000)).toBe(900_000);
    expect(backoffCeiling(5_000, 1_000, 900_000)).toBe(900_000);
  });

  it('never exceeds backoffBound, which is the top of the window or the Retry-After floor', () => {
    const random = createSeededRandom(seed);
    for (let attempt = 0; attempt <= 20; attempt++) {
      for (const failureClass of ['transient', 'server-error', 'rate-limited'] as const) {
        const retryAfterMs = random() < 0.5 ? null : Math.floor(random() * 2 * 60 * 60_000);
        const input = { attempt, failureClass, retryAfterMs };
        const bound = backoffBound(input, DEFAULT_BACKOFF);
        for (let i = 0; i < 50; i++) {
          expect(backoffDelay(input, DEFAULT_BACKOFF, random), `seed ${seed}`).toBeLessThanOrEqual(
            bound,
          );
        }
      }
    }
    expect(backoffBound({ attempt: 4 }, DEFAULT_BACKOFF)).toBe(16_000);
    expect(backoffBound({ attempt: 4, failureClass: 'fatal' }, DEFAULT_BACKOFF)).toBe(160_000);
    expect(backoffBound({ attempt: 40 }, DEFAULT_BACKOFF)).toBe(DEFAULT_BACKOFF.capMs);
    expect(backoffBound({ attempt: 0, retryAfterMs: 30_000 }, DEFAULT_BACKOFF)).toBe(30_000);
    expect(backoffBound({ attempt: 0, retryAfterMs: 1e12 }, DEFAULT_BACKOFF)).toBe(
      DEFAULT_BACKOFF.maxRetryAfterMs,
    );
  });

  it('uses the longer base for server errors and fatal errors', () => {
    const half = () => 0.5;
    expect(backoffDelay({ attempt: 0, failureClass: 'server-error' }, DEFAULT_BACKOFF, half)).toBe(
      5_000,
    );
    expect(backoffDelay({ attempt: 0, failureClass: 'fatal' }, DEFAULT_BACKOFF, half)).toBe(5_000);
    expect(backoffDelay({ attempt: 0, failureClass: 'transient' }, DEFAULT_BACKOFF, half)).toBe(
      500,
    );
    expect(backoffDelay({ attempt: 20, failureClass: 'server-error' }, DEFAULT_BACKOFF, half)).toBe(
      450_000,
    );
  });

  it('never retries before Retry-After, even above the cap', () => {
    const random = createSeededRandom(seed);
    for (let attempt = 0; attempt <= 20; attempt++) {
      const delay = backoffDelay(
        { attempt, failureClass: 'rate-limited', retryAfterMs: 30_000 },
        DEFAULT_BACKOFF,
        random,
      );
      expect(delay).toBeGreaterThanOrEqual(30_000);
      expect(delay).toBeLessThan(Math.max(30_000 + 1, backoffCeiling(attempt, 1_000, 900_000)));
    }
    expect(backoffDelay({ attempt: 0, retryAfterMs: 1_200_000 }, DEFAULT_BACKOFF, () => 0)).toBe(
      1_200_000,
    );
  });

  it('caps an absurd Retry-After at maxRetryAfterMs', () => {
    expect(backoffDelay({ attempt: 0, retryAfterMs: 10 ** 12 }, DEFAULT_BACKOFF, () => 0)).toBe(
      DEFAULT_BACKOFF.maxRetryAfterMs,
    );
  });

  it('rejects a bad attempt or a random source out of [0, 1)', () => {
    expect(() => backoffDelay({ attempt: -1 }, DEFAULT_BACKOFF, Math.random)).toThrow(/attempt/);
    expect(() => backoffDelay({ attempt: 1.5 }, DEFAULT_BACKOFF, Math.random)).toThrow(/attempt/);
    expect(() => backoffDelay({ attempt: 0 }, DEFAULT_BACKOFF, () => 1)).toThrow(/random/);
    expect(() => backoffDelay({ attempt: 0 }, DEFAULT_BACKOFF, () => Number.NaN)).toThrow(/random/);
  });
});

describe('resolveBackoffOptions', () => {
  it('fills defaults and keeps overrides', () => {
    expect(resolveBackoffOptions({ baseMs: 50 })).toEqual({ ...DEFAULT_BACKOFF, baseMs: 50 });
  });

  it.each([
    [{ baseMs: -1 }, /baseMs/],
    [{ capMs: 0 }, /capMs/],
    [{ serverErrorBaseMs: Number.POSITIVE_INFINITY }, /serverErrorBaseMs/],
  ])('rejects %j', (overrides, message) => {
    expect(() => resolveBackoffOptions(overrides)).toThrow(message);
  });
});

describe('createSeededRandom', () => {
  it('repeats its sequence for a seed and differs between seeds', () => {
    const a = createSeededRandom(42);
    const b = createSeededRandom(42);
    const c = createSeededRandom(43);
    const seqA = Array.from({ length: 100 }, a);
    expect(Array.from({ length: 100 }, b)).toEqual(seqA);
    expect(Array.from({ length: 100 }, c)).not.toEqual(seqA);
    for (const value of seqA) {
      expect(value).toBeGreaterThanOrEqual(0);
      expect(value).toBeLessThan(1);
    }
  });

  it('spreads its values over [0, 1)', () => {
    const random = createSeededRandom(seed);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(random() * 10)]!++;
    for (const count of buckets) {
      expect(count, `seed ${seed}`).toBeGreaterThan(800);
      expect(count, `seed ${seed}`).toBeLessThan(1_200);
    }
  });

  it('rejects a seed that is not a safe integer', () => {
    expect(() => createSeededRandom(1.5)).toThrow(/seed/);
  });
});

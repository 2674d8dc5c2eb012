/**
 * A small seeded pseudo-random number generator (mulberry32) for reproducible randomness:
 * backoff jitter in tests, randomised tests that print their seed, the deterministic simulator.
 * Not for anything security-related.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';

/**
 * Returns a function that yields numbers in [0, 1), the same sequence for the same seed.
 * The seed is taken modulo 2^32.
 *
 * @example
 * const random = createSeededRandom(42);
 * random(); // always the same first value for seed 42
 */
export function createSeededRandom(seed: number): () => number {
  if (!Number.isSafeInteger(seed)) {
    throw new FerryError('invalid_argument', `seed must be a safe integer, got ${seed}`);
  }
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

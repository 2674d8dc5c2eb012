/**
 * Exponential backoff with full jitter: the pure delay function behind every retry of the
 * scheduler and the realtime client.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import type { FailureClass } from './classify-failure.js';

/** Backoff settings. All in milliseconds. */
export interface BackoffOptions {
  /** Ceiling of the first retry's delay; doubles per consecutive failure. */
  readonly baseMs: number;
  /** The base for `server-error` and `fatal` failures (a 500 is unlikely to heal in 1 s). */
  readonly serverErrorBaseMs: number;
  /** Largest ceiling of the jittered delay. */
  readonly capMs: number;
  /**
   * Largest Retry-After honoured. A server's Retry-After is a floor that may exceed `capMs`,
   * but a broken header ("Retry-After: 99999999") must not stall a client for years.
   */
  readonly maxRetryAfterMs: number;
}

/** Default backoff: base 1 s, 500s base 10 s, cap 15 min, Retry-After honoured up to 1 h. */
export const DEFAULT_BACKOFF: BackoffOptions = {
  baseMs: 1_000,
  serverErrorBaseMs: 10_000,
  capMs: 15 * 60_000,
  maxRetryAfterMs: 60 * 60_000,
};

/** Input of {@link backoffDelay}. */
export interface BackoffInput {
  /** 0 for the first retry after one failure, 1 after two consecutive failures, … */
  readonly attempt: number;
  /** The failure's class; `server-error` and `fatal` use {@link BackoffOptions.serverErrorBaseMs}. */
  readonly failureClass?: FailureClass | undefined;
  /** The server's Retry-After in ms: the delay is at least this (up to `maxRetryAfterMs`). */
  readonly retryAfterMs?: number | null | undefined;
}

/**
 * The ceiling of the jitter window for an attempt: `min(cap, base · 2^attempt)`.
 */
export function backoffCeiling(attempt: number, baseMs: number, capMs: number): number {
  assertAttempt(attempt);
  // 2^1024 is Infinity; min() still gives the cap, but keep the arithmetic finite anyway.
  return Math.min(capMs, baseMs * 2 ** Math.min(attempt, 1000));
}

/**
 * The delay before the next retry, in ms: FULL jitter, a uniformly random point in
 * `[0, min(cap, base · 2^attempt))`, then raised to the Retry-After floor when the server sent
 * one. Full jitter spreads a crowd of clients that failed together over the whole window, so a
 * recovering server is not hit by all of them at once.
 *
 * `random` must return numbers in [0, 1) (Math.random, or {@link createSeededRandom} in tests).
 *
 * @example
 * backoffDelay({ attempt: 3 }, DEFAULT_BACKOFF, Math.random); // somewhere in [0, 8000)
 */
export function backoffDelay(
  input: BackoffInput,
  options: BackoffOptions,
  random: () => number,
): number {
  const ceiling = backoffCeiling(input.attempt, baseOf(input, options), options.capMs);
  const r = random();
  if (!(r >= 0 && r < 1)) {
    throw new FerryError('invalid_argument', `random() must return a number in [0, 1), got ${r}`);
  }
  return Math.max(Math.floor(r * ceiling), retryAfterFloor(input, options));
}

/**
 * The longest delay {@link backoffDelay} can return for `input`: the top of its jitter window,
 * or the Retry-After floor when that is higher. Deterministic, so a rate limit built on it holds
 * whatever the random numbers were (the open circuit spaces evidence-driven trials with it).
 *
 * @example
 * backoffBound({ attempt: 4 }, DEFAULT_BACKOFF); // 16_000
 */
export function backoffBound(input: BackoffInput, options: BackoffOptions): number {
  return Math.max(
    backoffCeiling(input.attempt, baseOf(input, options), options.capMs),
    retryAfterFloor(input, options),
  );
}

/**
 * Fills defaults and checks a partial {@link BackoffOptions}: every value a finite number
 * ≥ 0, and `capMs` ≥ 1. Throws `FerryError('invalid_argument')` otherwise.
 */
export function resolveBackoffOptions(
  overrides: { readonly [K in keyof BackoffOptions]?: BackoffOptions[K] | undefined } = {},
  defaults: BackoffOptions = DEFAULT_BACKOFF,
): BackoffOptions {
  const resolved: BackoffOptions = { ...defaults, ...definedOnly(overrides) };
  for (const [name, value] of Object.entries(resolved)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new FerryError('invalid_argument', `backoff.${name} must be a finite number ≥ 0`);
    }
  }
  if (resolved.capMs < 1) throw new FerryError('invalid_argument', 'backoff.capMs must be ≥ 1');
  return resolved;
}

function baseOf(input: BackoffInput, options: BackoffOptions): number {
  return input.failureClass === 'server-error' || input.failureClass === 'fatal'
    ? options.serverErrorBaseMs
    : options.baseMs;
}

/** The server's Retry-After, honoured up to `maxRetryAfterMs`; 0 without one. */
function retryAfterFloor(input: BackoffInput, options: BackoffOptions): number {
  const retryAfter = input.retryAfterMs ?? null;
  if (retryAfter === null || !(retryAfter > 0)) return 0;
  return Math.min(retryAfter, options.maxRetryAfterMs);
}

function assertAttempt(attempt: number): void {
  if (!Number.isSafeInteger(attempt) || attempt < 0) {
    throw new FerryError('invalid_argument', `attempt must be an integer ≥ 0, got ${attempt}`);
  }
}

function definedOnly<T extends object>(value: T): { [K in keyof T]?: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: Exclude<T[K], undefined>;
  };
}

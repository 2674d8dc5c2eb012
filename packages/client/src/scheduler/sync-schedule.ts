/**
 * The scheduler's tunables in one options object, with their defaults in one constant.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import { DEFAULT_BACKOFF, resolveBackoffOptions, type BackoffOptions } from './backoff.js';

/** Every tunable of the scheduler. Times in milliseconds. */
export interface SyncScheduleOptions {
  /** A local write is pushed this long after the last write of a burst. */
  readonly debounceMs: number;
  /** …but at most this long after the first write of the burst. */
  readonly maxWaitMs: number;
  /** At most one automatic cycle starts per this interval (sync-now is exempt). */
  readonly minIntervalMs: number;
  /** Safety-net sync this long after the last cycle ended, while in the foreground. */
  readonly foregroundIntervalMs: number;
  /** The same in the background. */
  readonly backgroundIntervalMs: number;
  /**
   * Cycles in a row answered 409 that are retried at once before the state becomes
   * blocked-conflict. (Not `ClientOptions.maxConflictRetries`, which bounds the rebase rounds
   * of one row.)
   */
  readonly maxConflictCycles: number;
  /** Consecutive failed cycles that open the circuit. */
  readonly circuitThreshold: number;
  /** How long an open circuit waits before its half-open trial. */
  readonly circuitCoolDownMs: number;
  /** Retry delays. */
  readonly backoff: BackoffOptions;
}

/**
 * Partial {@link SyncScheduleOptions}, as an app passes them; `backoff` may be partial too.
 * An `undefined` value means "the default".
 */
export type SyncScheduleOverrides = {
  readonly [K in Exclude<keyof SyncScheduleOptions, 'backoff'>]?:
    SyncScheduleOptions[K] | undefined;
} & {
  readonly backoff?: { readonly [K in keyof BackoffOptions]?: BackoffOptions[K] | undefined };
  /** @deprecated The former name of `maxConflictCycles`, still accepted. */
  readonly maxConflictRetries?: number | undefined;
};

/** The defaults: issue 4's numbers. */
export const DEFAULT_SYNC_SCHEDULE: SyncScheduleOptions = {
  debounceMs: 2_000,
  maxWaitMs: 10_000,
  minIntervalMs: 2_000,
  foregroundIntervalMs: 30_000,
  backgroundIntervalMs: 5 * 60_000,
  maxConflictCycles: 3,
  circuitThreshold: 5,
  circuitCoolDownMs: 30 * 60_000,
  backoff: DEFAULT_BACKOFF,
};

/**
 * Fills defaults into `overrides` and checks them; throws `FerryError('invalid_argument')`
 * naming the bad option. Rules: every time a finite number ≥ 0, periodic intervals ≥ 1,
 * `maxWaitMs ≥ debounceMs`, `circuitThreshold` an integer ≥ 1, `maxConflictCycles` an
 * integer ≥ 0 (`maxConflictRetries`, its former name, is taken for it; both, differing, are
 * refused).
 *
 * @example
 * resolveSyncSchedule({ debounceMs: 0, minIntervalMs: 0 }); // a latency benchmark's schedule
 */
export function resolveSyncSchedule(overrides: SyncScheduleOverrides = {}): SyncScheduleOptions {
  const { backoff, maxConflictRetries, ...rest } = overrides;
  if (
    maxConflictRetries !== undefined &&
    rest.maxConflictCycles !== undefined &&
    maxConflictRetries !== rest.maxConflictCycles
  ) {
    throw new FerryError(
      'invalid_argument',
      'maxConflictRetries is the former name of maxConflictCycles: give one of them',
    );
  }
  const merged = {
    ...DEFAULT_SYNC_SCHEDULE,
    ...(maxConflictRetries !== undefined ? { maxConflictCycles: maxConflictRetries } : {}),
  };
  for (const [key, value] of Object.entries(rest)) {
    if (value !== undefined) Object.assign(merged, { [key]: value });
  }
  const resolved: SyncScheduleOptions = {
    ...merged,
    backoff: resolveBackoffOptions(backoff, DEFAULT_BACKOFF),
  };
  for (const key of TIME_KEYS) {
    const value = resolved[key];
    if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
      throw new FerryError('invalid_argument', `${key} must be a finite number ≥ 0, got ${value}`);
    }
  }
  for (const key of ['foregroundIntervalMs', 'backgroundIntervalMs'] as const) {
    if (resolved[key] < 1) throw new FerryError('invalid_argument', `${key} must be ≥ 1`);
  }
  if (resolved.maxWaitMs < resolved.debounceMs) {
    throw new FerryError('invalid_argument', 'maxWaitMs must be ≥ debounceMs');
  }
  if (!Number.isSafeInteger(resolved.circuitThreshold) || resolved.circuitThreshold < 1) {
    throw new FerryError('invalid_argument', 'circuitThreshold must be an integer ≥ 1');
  }
  if (!Number.isSafeInteger(resolved.maxConflictCycles) || resolved.maxConflictCycles < 0) {
    throw new FerryError('invalid_argument', 'maxConflictCycles must be an integer ≥ 0');
  }
  return resolved;
}

const TIME_KEYS = [
  'debounceMs',
  'maxWaitMs',
  'minIntervalMs',
  'foregroundIntervalMs',
  'backgroundIntervalMs',
  'circuitCoolDownMs',
] as const;

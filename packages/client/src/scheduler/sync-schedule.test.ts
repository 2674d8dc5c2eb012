import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF } from './backoff.js';
import { DEFAULT_SYNC_SCHEDULE, resolveSyncSchedule } from './sync-schedule.js';

describe('resolveSyncSchedule', () => {
  it("has issue 4's defaults", () => {
    expect(resolveSyncSchedule()).toEqual({
      debounceMs: 2_000,
      maxWaitMs: 10_000,
      minIntervalMs: 2_000,
      foregroundIntervalMs: 30_000,
      backgroundIntervalMs: 300_000,
      maxConflictCycles: 3,
      circuitThreshold: 5,
      circuitCoolDownMs: 1_800_000,
      backoff: {
        baseMs: 1_000,
        serverErrorBaseMs: 10_000,
        capMs: 900_000,
        maxRetryAfterMs: 3_600_000,
      },
    });
    expect(DEFAULT_SYNC_SCHEDULE.backoff).toBe(DEFAULT_BACKOFF);
  });

  it('merges overrides, including a partial backoff, and ignores undefined', () => {
    const options = resolveSyncSchedule({
      debounceMs: 0,
      minIntervalMs: undefined,
      backoff: { capMs: 60_000 },
    });
    expect(options.debounceMs).toBe(0);
    expect(options.minIntervalMs).toBe(2_000);
    expect(options.backoff).toEqual({ ...DEFAULT_BACKOFF, capMs: 60_000 });
  });

  it('takes maxConflictRetries, the former name of maxConflictCycles, for it', () => {
    expect(resolveSyncSchedule({ maxConflictRetries: 5 }).maxConflictCycles).toBe(5);
    expect(resolveSyncSchedule({ maxConflictRetries: 5, maxConflictCycles: 5 })).not.toHaveProperty(
      'maxConflictRetries',
    );
  });

  it.each([
    [{ debounceMs: -1 }, /debounceMs/],
    [{ minIntervalMs: Number.NaN }, /minIntervalMs/],
    [{ foregroundIntervalMs: 0 }, /foregroundIntervalMs/],
    [{ debounceMs: 5_000, maxWaitMs: 1_000 }, /maxWaitMs/],
    [{ circuitThreshold: 0 }, /circuitThreshold/],
    [{ circuitThreshold: 2.5 }, /circuitThreshold/],
    [{ maxConflictCycles: -1 }, /maxConflictCycles/],
    [{ maxConflictRetries: 2, maxConflictCycles: 3 }, /former name/],
    [{ backoff: { baseMs: -5 } }, /baseMs/],
  ])('rejects %j with a clear error', (overrides, message) => {
    expect(() => resolveSyncSchedule(overrides)).toThrow(message);
    try {
      resolveSyncSchedule(overrides);
    } catch (error) {
      expect(error).toMatchObject({ code: 'invalid_argument' });
    }
  });
});

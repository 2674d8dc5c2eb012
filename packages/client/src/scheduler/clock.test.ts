import { describe, expect, it } from 'vitest';
import { createManualClock, createSystemClock, sleep } from './clock.js';

describe('the manual clock', () => {
  it('fires due timers in time order, and same-time timers in the order they were set', () => {
    const clock = createManualClock(100);
    const fired: string[] = [];
    clock.setTimer({ at: 400 }, () => fired.push(`c@${clock.now()}`));
    clock.setTimer({ delay: 100 }, () => fired.push(`a@${clock.now()}`));
    clock.setTimer({ at: 200 }, () => fired.push(`b@${clock.now()}`));
    expect(clock.advance(99)).toBe(0);
    expect(clock.advance(150)).toBe(2);
    expect(fired).toEqual(['a@200', 'b@200']);
    expect(clock.now()).toBe(349);
    clock.advance(1_000);
    expect(fired).toEqual(['a@200', 'b@200', 'c@400']);
  });

  it('fires a timer set by a callback within the same advance when it falls inside the window', () => {
    const clock = createManualClock(0);
    const fired: number[] = [];
    clock.setTimer({ delay: 10 }, () => {
      fired.push(clock.now());
      clock.setTimer({ delay: 10 }, () => fired.push(clock.now()));
      clock.setTimer({ delay: 100 }, () => fired.push(clock.now()));
    });
    clock.advance(50);
    expect(fired).toEqual([10, 20]);
    expect(clock.pendingTimers()).toBe(1);
    expect(clock.nextTimerAt()).toBe(110);
  });

  it('never fires a cleared timer', () => {
    const clock = createManualClock();
    let fired = false;
    const id = clock.setTimer({ delay: 5 }, () => {
      fired = true;
    });
    clock.clearTimer(id);
    clock.clearTimer(id);
    clock.advance(10);
    expect(fired).toBe(false);
  });

  it('fires a timer set in the past on the next advance, without moving time back', () => {
    const clock = createManualClock(1_000);
    const fired: number[] = [];
    clock.setTimer({ at: 500 }, () => fired.push(clock.now()));
    clock.advance(0);
    expect(fired).toEqual([1_000]);
  });

  it('lets promise chains run between timers with advanceAsync', async () => {
    const clock = createManualClock(0);
    const log: string[] = [];
    clock.setTimer({ delay: 10 }, () => {
      void Promise.resolve().then(() => {
        log.push('request answered');
        clock.setTimer({ delay: 5 }, () => log.push(`follow-up at ${clock.now()}`));
      });
    });
    clock.setTimer({ delay: 30 }, () => log.push('late timer'));
    await clock.advanceAsync(40);
    expect(log).toEqual(['request answered', 'follow-up at 15', 'late timer']);
  });

  it('rejects non-finite times', () => {
    const clock = createManualClock();
    expect(() => clock.advance(Number.NaN)).toThrow(/finite/);
    expect(() => clock.setTimer({ delay: Number.POSITIVE_INFINITY }, () => {})).toThrow(/finite/);
  });
});

describe('sleep', () => {
  it('resolves after the delay on the given clock', async () => {
    const clock = createManualClock();
    let done = false;
    const slept = sleep(1_000, undefined, clock).then(() => {
      done = true;
    });
    clock.advance(999);
    await Promise.resolve();
    expect(done).toBe(false);
    clock.advance(1);
    await slept;
    expect(done).toBe(true);
  });

  it('rejects with aborted when the signal aborts, and clears its timer', async () => {
    const clock = createManualClock();
    const controller = new AbortController();
    const slept = sleep(1_000, controller.signal, clock);
    controller.abort();
    await expect(slept).rejects.toMatchObject({ code: 'aborted' });
    expect(clock.pendingTimers()).toBe(0);
    await expect(sleep(5, controller.signal, clock)).rejects.toMatchObject({ code: 'aborted' });
  });
});

describe('the system clock', () => {
  it('fires a timer, and not one that was cleared', async () => {
    const clock = createSystemClock({ unref: true });
    const fired: string[] = [];
    const cleared = clock.setTimer({ delay: 1 }, () => fired.push('cleared'));
    clock.clearTimer(cleared);
    await new Promise<void>((resolve) => clock.setTimer({ at: clock.now() + 5 }, resolve));
    expect(fired).toEqual([]);
    expect(clock.now()).toBeCloseTo(Date.now(), -2);
  });
});

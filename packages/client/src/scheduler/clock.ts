/**
 * The injected clock and timers of the scheduler: a system implementation on `Date.now` and
 * `setTimeout`, and a manual one that tests and the deterministic simulator drive by hand.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';

/** An opaque timer id, returned by {@link Clock.setTimer}. */
export type TimerId = number;

/** When a timer fires: at an absolute time of the clock, or after a delay from now (ms). */
export type TimerWhen = { readonly at: number } | { readonly delay: number };

/**
 * Time and timers. Everything in the scheduler and the realtime client that waits goes through
 * one of these, so a test can replace the passage of time.
 *
 * Contract: `now()` never goes backwards; a timer fires at most once, never before its time,
 * and never after `clearTimer`; timers due at the same time fire in the order they were set.
 */
export interface Clock {
  /** Milliseconds since the Unix epoch (or since the start of a manual clock's time). */
  now(): number;
  /** Calls `callback` once at `when`. A time in the past fires as soon as possible. */
  setTimer(when: TimerWhen, callback: () => void): TimerId;
  /** Cancels a timer; unknown or already fired ids are ignored. */
  clearTimer(id: TimerId): void;
}

/** Options of {@link createSystemClock}. */
export interface SystemClockOptions {
  /**
   * Unreference the Node.js timers so that pending timers alone do not keep the process alive.
   * Default false.
   */
  readonly unref?: boolean;
}

/** The largest delay `setTimeout` accepts; longer waits are chained. */
const MAX_TIMEOUT_MS = 2_147_483_647;

/**
 * The real clock: `Date.now()` and `setTimeout`. Waits longer than `setTimeout`'s limit
 * (about 24.8 days) are chained, and a timer never fires before its `at`.
 */
export function createSystemClock(options: SystemClockOptions = {}): Clock {
  const handles = new Map<TimerId, ReturnType<typeof setTimeout>>();
  let nextId = 1;

  const arm = (id: TimerId, at: number, callback: () => void): void => {
    const delay = Math.min(Math.max(0, at - Date.now()), MAX_TIMEOUT_MS);
    const handle = setTimeout(() => {
      if (!handles.has(id)) return;
      if (Date.now() < at) {
        arm(id, at, callback);
        return;
      }
      handles.delete(id);
      callback();
    }, delay);
    if (options.unref === true && typeof handle === 'object' && 'unref' in handle) handle.unref();
    handles.set(id, handle);
  };

  return {
    now: () => Date.now(),
    setTimer(when, callback) {
      const id = nextId++;
      arm(id, resolveAt(when, Date.now()), callback);
      return id;
    },
    clearTimer(id) {
      const handle = handles.get(id);
      if (handle === undefined) return;
      clearTimeout(handle);
      handles.delete(id);
    },
  };
}

/**
 * A clock that only moves when told to. Timers fire in order of their time, and timers due at
 * the same time in the order they were set; a timer set by a callback during `advance` fires in
 * the same `advance` when it falls inside the window. Nothing here uses real time, so a run is
 * reproducible from its inputs.
 */
export interface ManualClock extends Clock {
  /** Moves time forward by `ms`, firing every timer due on the way; returns how many fired. */
  advance(ms: number): number;
  /** Moves time forward to `at` (no-op when `at` is not ahead), firing due timers. */
  advanceTo(at: number): number;
  /**
   * Like {@link ManualClock.advance}, but awaits `settle()` after every fired timer and once
   * before returning, so promise chains started by one timer (a fake request resolving, say)
   * run before the next timer fires. Default `settle`: one macrotask turn.
   */
  advanceAsync(ms: number, settle?: () => Promise<void>): Promise<number>;
  /** Time of the earliest pending timer, or null when none is pending. */
  nextTimerAt(): number | null;
  /** Number of pending timers. */
  pendingTimers(): number;
}

/**
 * Creates a {@link ManualClock} whose time starts at `start` (ms, default 0).
 *
 * @example
 * const clock = createManualClock(0);
 * clock.setTimer({ delay: 1000 }, () => console.log('fired at', clock.now()));
 * clock.advance(999); // nothing
 * clock.advance(1); // "fired at 1000"
 */
export function createManualClock(start = 0): ManualClock {
  assertFiniteTime(start, 'start');
  interface ManualTimer {
    readonly id: TimerId;
    readonly at: number;
    readonly seq: number;
    readonly callback: () => void;
  }
  let now = start;
  let nextId = 1;
  let seq = 0;
  const timers = new Map<TimerId, ManualTimer>();

  const earliest = (): ManualTimer | undefined => {
    let best: ManualTimer | undefined;
    for (const timer of timers.values()) {
      if (
        best === undefined ||
        timer.at < best.at ||
        (timer.at === best.at && timer.seq < best.seq)
      )
        best = timer;
    }
    return best;
  };

  /** Fires the earliest timer due at or before `target`; false when none is. */
  const fireOne = (target: number): boolean => {
    const timer = earliest();
    if (timer === undefined || timer.at > target) return false;
    timers.delete(timer.id);
    now = Math.max(now, timer.at);
    timer.callback();
    return true;
  };

  const clock: ManualClock = {
    now: () => now,
    setTimer(when, callback) {
      const id = nextId++;
      timers.set(id, { id, at: resolveAt(when, now), seq: seq++, callback });
      return id;
    },
    clearTimer(id) {
      timers.delete(id);
    },
    advance(ms) {
      assertFiniteTime(ms, 'ms');
      return clock.advanceTo(now + Math.max(0, ms));
    },
    advanceTo(at) {
      assertFiniteTime(at, 'at');
      let fired = 0;
      while (fireOne(at)) fired++;
      now = Math.max(now, at);
      return fired;
    },
    async advanceAsync(ms, settle = macrotask) {
      assertFiniteTime(ms, 'ms');
      const target = now + Math.max(0, ms);
      let fired = 0;
      await settle();
      while (fireOne(target)) {
        fired++;
        await settle();
      }
      now = Math.max(now, target);
      return fired;
    },
    nextTimerAt: () => earliest()?.at ?? null,
    pendingTimers: () => timers.size,
  };
  return clock;
}

/**
 * Waits `ms` on `clock`, or until `signal` aborts. Rejects with `FerryError('aborted')` on
 * abort (immediately when the signal is already aborted); the timer is cleared either way.
 */
export function sleep(ms: number, signal: AbortSignal | undefined, clock: Clock): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(abortedError(signal));
      return;
    }
    const onAbort = (): void => {
      clock.clearTimer(id);
      reject(abortedError(signal));
    };
    const id = clock.setTimer({ delay: Math.max(0, ms) }, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function abortedError(signal: AbortSignal | undefined): FerryError {
  return new FerryError('aborted', 'the wait was aborted', { cause: signal?.reason });
}

function resolveAt(when: TimerWhen, now: number): number {
  const at = 'at' in when ? when.at : now + when.delay;
  if (!Number.isFinite(at)) {
    throw new FerryError('invalid_argument', `timer time must be a finite number, got ${at}`);
  }
  return at;
}

function assertFiniteTime(value: number, name: string): void {
  if (!Number.isFinite(value)) {
    throw new FerryError('invalid_argument', `${name} must be a finite number, got ${value}`);
  }
}

function macrotask(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}

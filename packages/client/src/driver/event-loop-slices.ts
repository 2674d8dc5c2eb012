/**
 * Gives the event loop a turn between statements once a slice of time is used up.
 *
 * The engine's long steps (a freeze, the apply of a page, a hydration) run many statements in a
 * row on a synchronous SQLite engine: each `await` on a driver call resolves as a microtask, so
 * without a real yield the process (or, in a browser, the worker) runs nothing else until the
 * step ends. {@link EventLoopSlices.breathe} is called before each statement: when more than
 * `sliceMs` went by since the event loop last had a turn, it waits one macrotask first. A
 * stretch of Ferry's work then blocks the loop for at most a slice plus one statement.
 *
 * Time comes from `now` (the wall clock). A client given a clock of its own (`options.clock`:
 * tests, the simulator) runs without slices: that clock owns time and waiting.
 */
export class EventLoopSlices {
  readonly #now: () => number;
  readonly #sliceMs: number;
  #sliceStart: number;
  #turnPending = false;

  constructor(now: () => number, sliceMs: number) {
    this.#now = now;
    this.#sliceMs = sliceMs;
    this.#sliceStart = now();
  }

  /** Undefined when the slice has room (no await needed), else a promise of the next turn. */
  breathe(): Promise<void> | undefined {
    if (!this.#turnPending) {
      // Marks the next turn of the event loop: a loop that turned by itself starts a new slice.
      this.#turnPending = true;
      macrotask(() => {
        this.#turnPending = false;
        this.#sliceStart = this.#now();
      });
    }
    if (this.#now() - this.#sliceStart < this.#sliceMs) return undefined;
    return new Promise<void>((resolve) => macrotask(resolve));
  }
}

/** Runs `fn` on a later turn of the event loop (after pending I/O), in call order. */
function macrotask(fn: () => void): void {
  if (typeof setImmediate === 'function') {
    setImmediate(fn);
    return;
  }
  // Browsers and workers: a message posted to oneself is a macrotask without setTimeout's clamp.
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    fn();
  };
  channel.port2.postMessage(null);
}

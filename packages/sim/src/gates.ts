/**
 * Gates: the only places where the simulated world waits on the simulator. A client's request
 * in the network, a client paused at a hook: each is a gate, opened by the simulator in a later
 * step. Counting open gates against running operations tells the simulator when every
 * operation is either finished or waiting on it (the world is settled), without real time.
 */

/** A promise the simulator settles. */
export interface Gate<T> {
  readonly promise: Promise<T>;
  /** Settles the gate with a value (no-op once settled). */
  open(value: T): void;
  /** Settles the gate with an error (no-op once settled). */
  fail(error: unknown): void;
  readonly settled: boolean;
}

/** Operations and gates of one client incarnation. */
export class OperationCounter {
  #running = 0;
  #blocked = 0;

  /** Operations started and not yet finished. */
  get running(): number {
    return this.#running;
  }

  /** Gates open (operations waiting on the simulator). */
  get blocked(): number {
    return this.#blocked;
  }

  /** True when every running operation waits on a gate. */
  get settled(): boolean {
    return this.#running === this.#blocked;
  }

  /** Counts `promise` as a running operation until it settles. */
  track<T>(promise: Promise<T>): Promise<T> {
    this.#running++;
    return promise.finally(() => {
      this.#running--;
    });
  }

  /** A gate that counts as blocking until it is settled. */
  gate<T>(): Gate<T> {
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const promise = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.#blocked++;
    let settled = false;
    const settle = () => {
      if (settled) return false;
      settled = true;
      this.#blocked--;
      return true;
    };
    return {
      promise,
      open: (value) => {
        if (settle()) resolve(value);
      },
      fail: (error) => {
        if (settle()) reject(error);
      },
      get settled() {
        return settled;
      },
    };
  }
}

/** A promise that never settles: what a crashed process's code waits on forever. */
export function never<T>(): Promise<T> {
  return new Promise<T>(() => undefined);
}

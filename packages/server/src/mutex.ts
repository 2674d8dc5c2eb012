/**
 * Serialises async critical sections: `run` calls start in order, each after the previous one
 * settled. Used around every use of a single-connection engine's write connection, so that a
 * transaction that awaits cannot have other statements interleaved into it.
 */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` once every earlier `run` has settled; resolves with its result. */
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.#tail.then(fn, fn);
    this.#tail = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }
}

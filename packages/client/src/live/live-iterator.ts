/**
 * The async-iterator form of a live query: yields the rows of each change, the newest only when
 * the consumer is slower than the changes (a live view wants the current rows, not a backlog).
 * A query that fails ends the iteration with its error; `return()` (a `break` out of
 * `for await`) or the signal's abort stops the watch.
 *
 * @module
 */
import { type FerryError } from '@ferry/protocol';
import type { SqlRow } from '../driver/sqlite-driver.js';
import type { WatchCallbacks } from './live-queries.js';

export function liveIterator<R extends SqlRow>(
  watch: (callbacks: WatchCallbacks<R>) => () => void,
  signal?: AbortSignal,
): AsyncIterableIterator<R[]> {
  let latest: R[] | undefined;
  let failure: FerryError | undefined;
  let finished = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const resume = wake;
    wake = null;
    resume?.();
  };
  const stop = watch({
    onResult: (rows) => {
      latest = rows;
      notify();
    },
    onError: (error) => {
      failure = error;
      notify();
    },
  });
  const finish = () => {
    if (finished) return;
    finished = true;
    stop();
    signal?.removeEventListener('abort', finish);
    notify();
  };
  if (signal?.aborted) finish();
  else signal?.addEventListener('abort', finish, { once: true });

  const iterator: AsyncIterableIterator<R[]> = {
    async next() {
      for (;;) {
        if (failure) {
          const error = failure;
          failure = undefined;
          finish();
          throw error;
        }
        if (finished) return { done: true, value: undefined };
        if (latest !== undefined) {
          const value = latest;
          latest = undefined;
          return { done: false, value };
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    return() {
      finish();
      return Promise.resolve({ done: true, value: undefined });
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

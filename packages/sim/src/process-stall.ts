/**
 * A run that stalls its process: it waits on something nothing will ever settle, and the event
 * loop has emptied. Node then ends the process (exit code 13 for an unsettled top-level await),
 * in the middle of a batch of seeds, without a summary; in a worker it ends the whole `npm run
 * sim`. This turns the stall into a value, so that the batch can report the seed and go on.
 */

/**
 * Settles like `work`, or with `onStall()` once this process has nothing left to run while
 * `work` is still pending (Node's `beforeExit`), which then can never settle. A process that
 * keeps its event loop busy for other reasons (a test runner's worker) never stalls this way.
 */
export async function untilStalled<T>(work: Promise<T>, onStall: () => T): Promise<T> {
  let stop = (): void => undefined;
  const stalled = new Promise<T>((resolve) => {
    const onBeforeExit = () => resolve(onStall());
    process.once('beforeExit', onBeforeExit);
    stop = () => process.off('beforeExit', onBeforeExit);
  });
  try {
    return await Promise.race([work, stalled]);
  } finally {
    stop();
  }
}

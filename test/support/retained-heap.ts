/**
 * What repeated create–use–close cycles leave on the heap, for lifetime tests. V8's `gc` is
 * exposed at run time, because vitest's workers do not start with `--expose-gc`.
 */
import { getHeapCodeStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** Options of {@link retainedBytesPerRun}. */
export interface RetainedHeapOptions {
  /** Cycles run first and not counted: code compiles and caches meant to stay fill up. */
  readonly warmUp: number;
  /** Cycles counted. */
  readonly runs: number;
}

/**
 * Runs `cycle` `warmUp` times, then `runs` times, and returns the growth per counted run of the
 * heap's data (what {@link collectGarbage} returns), in bytes. A cycle that releases everything
 * it made leaves little (type feedback, interned strings, less with every run); one whose
 * instance stays reachable leaves that instance's whole graph, every run.
 */
export async function retainedBytesPerRun(
  cycle: () => Promise<void>,
  options: RetainedHeapOptions,
): Promise<number> {
  for (let i = 0; i < options.warmUp; i++) await cycle();
  const before = await collectGarbage();
  for (let i = 0; i < options.runs; i++) await cycle();
  const after = await collectGarbage();
  return (after - before) / options.runs;
}

/**
 * True when `ref`'s target was collected: nothing alive references it. Only call it after the
 * code that made the target has returned (a WeakRef keeps its target for the current job).
 */
export async function isCollected(ref: WeakRef<object>): Promise<boolean> {
  await collectGarbage();
  return ref.deref() === undefined;
}

/**
 * Lets pending callbacks run (finalizers, closed handles) and collects garbage until the heap
 * stops shrinking; returns the heap's data in bytes: the heap in use without compiled code and
 * bytecode, which grow as the JIT compiles more of the same code and are no instance's. The
 * process's resource-timing buffer (an entry per fetch, up to 250) is emptied first: it is
 * bounded and belongs to no instance either.
 */
export async function collectGarbage(): Promise<number> {
  performance.clearResourceTimings();
  let used = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 10; round++) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    gc();
    const code = getHeapCodeStatistics();
    const now =
      process.memoryUsage().heapUsed -
      code.code_and_metadata_size -
      code.bytecode_and_metadata_size;
    if (now >= used) return now;
    used = now;
  }
  return used;
}

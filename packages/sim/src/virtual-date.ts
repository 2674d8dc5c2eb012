/**
 * Replaces the global `Date` for the duration of a run, so that the server's commit times
 * (server-derived timestamp columns) come from the simulation's virtual clock instead of the
 * wall clock. The server takes its time from `new Date()`; this keeps a seed's run identical
 * down to the bytes of every database. `Date` with arguments, `Date.parse` and `Date.UTC`
 * behave as usual.
 *
 * Only one run at a time may hold the virtual date in a process.
 */
let restoreInstalled: (() => void) | null = null;

/**
 * Installs a `Date` whose `now()` and argument-less constructor read `now`; returns the function
 * that restores the real one.
 */
export function installVirtualDate(now: () => number): () => void {
  if (restoreInstalled) {
    throw new Error('a simulation is already running in this process (the virtual Date is taken)');
  }
  const RealDate = globalThis.Date;
  class VirtualDate extends RealDate {
    constructor(...args: unknown[]) {
      if (args.length === 0) super(now());
      else super(...(args as [string | number | Date]));
    }
    static override now(): number {
      return now();
    }
  }
  globalThis.Date = VirtualDate as DateConstructor;
  const restore = () => {
    // Once released, a later run may hold the Date: this run must not take it back from it.
    if (restoreInstalled !== restore) return;
    globalThis.Date = RealDate;
    restoreInstalled = null;
  };
  restoreInstalled = restore;
  return restore;
}

/**
 * Restores the real `Date` for a run that will never do it itself (it stalled: see
 * `untilStalled`), so that the next run can install its own.
 */
export function releaseVirtualDate(): void {
  restoreInstalled?.();
}

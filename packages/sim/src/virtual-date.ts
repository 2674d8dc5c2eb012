/**
 * Replaces the global `Date` for the duration of a run, so that the server's commit times
 * (server-derived timestamp columns) come from the simulation's virtual clock instead of the
 * wall clock. The server takes its time from `new Date()`; this keeps a seed's run identical
 * down to the bytes of every database. `Date` with arguments, `Date.parse` and `Date.UTC`
 * behave as usual.
 *
 * Only one run at a time may hold the virtual date in a process.
 */
let installed = false;

/**
 * Installs a `Date` whose `now()` and argument-less constructor read `now`; returns the function
 * that restores the real one.
 */
export function installVirtualDate(now: () => number): () => void {
  if (installed) {
    throw new Error('a simulation is already running in this process (the virtual Date is taken)');
  }
  installed = true;
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
  return () => {
    globalThis.Date = RealDate;
    installed = false;
  };
}

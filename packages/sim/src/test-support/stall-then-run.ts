/**
 * A process that stalls like a stuck simulation run, then runs a real seed: a run that holds
 * the virtual `Date` waits on a promise nothing will ever settle, and nothing else is left to
 * run. It prints one JSON line per stage; `process-stall.test.ts` runs it.
 */
import { todoSchema } from '@ferry/example-todo';
import { never } from '../gates.js';
import { untilStalled } from '../process-stall.js';
import { runSeeds } from '../run-seeds.js';
import { installVirtualDate, releaseVirtualDate } from '../virtual-date.js';

const say = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

// The stuck run: it took the virtual Date and waits forever.
installVirtualDate(() => 0);
const stuck = never<string>();
say({ stage: 'waiting' });
const outcome = await untilStalled(stuck, () => {
  releaseVirtualDate();
  return 'stalled';
});
say({ stage: outcome, realDate: Date.now() > 0 });
const summary = await runSeeds({ schema: todoSchema, seeds: [11], operations: 20 });
say({ stage: 'ran', seeds: summary.seeds });

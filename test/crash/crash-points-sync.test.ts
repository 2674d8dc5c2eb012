/**
 * Real-process crashes at the network points: after the server committed, before the local ack,
 * in the middle of a pull, before the checkpoint. Each point is killed FERRY_CRASH_KILLS times
 * (default 20) with a different seeded workload; see crash-points.ts for what is checked.
 */
import { describeCrashPoints } from './crash-points.js';

describeCrashPoints(
  [
    'after-server-commit-before-response',
    'after-response-before-local-ack',
    'mid-pull-apply',
    'after-apply-before-checkpoint',
  ],
  5000,
);

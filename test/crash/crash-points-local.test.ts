/**
 * Real-process crashes at the local points: inside and after a write, after freezing a bundle,
 * during hydration. Each point is killed FERRY_CRASH_KILLS times (default 20) with a different
 * seeded workload; see crash-points.ts for what is checked.
 */
import { describeCrashPoints } from './crash-points.js';

describeCrashPoints(
  ['after-outbox-write', 'after-local-commit', 'after-freeze-before-send', 'during-hydration'],
  1000,
);

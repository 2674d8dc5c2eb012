/**
 * Real-process crashes at the network points: after the server committed, before the local ack, in the middle of a pull, before the checkpoint. Each point is killed FERRY_CRASH_KILLS times (default
 * 20) with a different seeded workload; see crash-points.ts for what is checked.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { HookPoint } from '@ferry/client';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import { bundleCrashChild, type CrashChild } from './child-process.js';
import { KILLS, killAtPoint } from './crash-points.js';

const POINTS: readonly HookPoint[] = [
  'after-server-commit-before-response',
  'after-response-before-local-ack',
  'mid-pull-apply',
  'after-apply-before-checkpoint',
];
const BASE = Number(process.env['FERRY_CRASH_BASE'] ?? Math.floor(Math.random() * 1_000_000) * 100);

describe(`SIGKILL at named points, ${KILLS} times each (seeds from ${BASE})`, () => {
  let h: Harness;
  let child: CrashChild;
  beforeAll(async () => {
    [h, child] = await Promise.all([startHarness(), bundleCrashChild()]);
  });
  afterAll(async () => {
    child.dispose();
    await h.close();
  });

  it.each(POINTS)(
    'killed at %s: file intact, checkpoint not ahead of the data, no acknowledged write lost, no bundle committed twice',
    { timeout: 600_000 },
    async (point) => {
      const seeds = await killAtPoint(h, child, point, BASE + POINTS.indexOf(point) * 1000 + 5000);
      console.log(`${point}: ${seeds.length} kills, seeds ${seeds[0]}..${seeds[seeds.length - 1]}`);
    },
  );
});

/**
 * The CI seed budget, shard 0 of 2 (the other shard runs in parallel on the second core).
 * Budgets: FERRY_SIM_SEEDS, FERRY_SIM_OPS, FERRY_SIM_START; replay one seed with SEED=….
 */
import { describe, expect, it } from 'vitest';
import { describeFailure, runShard, shardSeeds } from './seed-budget.js';

const seeds = shardSeeds(0, 2);

describe.runIf(seeds.length > 0)('the deterministic simulation, shard 0', () => {
  it(
    `violates no invariant over ${seeds.length} seeds from ${seeds[0]}`,
    { timeout: 1_800_000 },
    async () => {
      const summary = await runShard(seeds);
      expect(summary.seeds).toBe(seeds.length);
      expect(summary.failures.map(describeFailure)).toEqual([]);
      expect(summary.violations).toBe(0);
    },
  );
});

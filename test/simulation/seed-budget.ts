/**
 * The CI seed budget of the simulation, from the environment:
 * - `FERRY_SIM_SEEDS`: seeds per CI run, over all shards (default 500);
 * - `FERRY_SIM_OPS`: workload operations per seed (default 300);
 * - `FERRY_SIM_START`: first seed (default: 1 under CI=true, so a CI run is reproducible;
 *   elsewhere each shard draws its own start and prints it, to explore new seeds);
 * - `SEED`: run only this seed (a replay).
 */
import { describe, expect, it } from 'vitest';
import { todoSchema, todoV2 } from '@ferry/example-todo';
import { FAULT_KINDS, runSeeds, type SeedBatchSummary, type SimulationResult } from '@ferry/sim';

export const SEEDS = Number(process.env['FERRY_SIM_SEEDS'] ?? 500);
export const OPERATIONS = Number(process.env['FERRY_SIM_OPS'] ?? 300);
export const REPLAY = process.env['SEED'] === undefined ? null : Number(process.env['SEED']);
/** The first seed when FERRY_SIM_START is set (shards then take consecutive ranges). */
const FIXED_START =
  process.env['FERRY_SIM_START'] !== undefined
    ? Number(process.env['FERRY_SIM_START'])
    : process.env['CI'] === 'true'
      ? 1
      : null;

/**
 * Seeds of shard `shard` out of `shards`: a share of FERRY_SIM_SEEDS, consecutive from
 * FERRY_SIM_START (each shard its own range), or from a random start of its own.
 */
export function shardSeeds(shard: number, shards: number): number[] {
  if (REPLAY !== null) return shard === 0 ? [REPLAY] : [];
  const count = Math.floor(SEEDS / shards) + (shard < SEEDS % shards ? 1 : 0);
  const before = Array.from(
    { length: shard },
    (_, s) => Math.floor(SEEDS / shards) + (s < SEEDS % shards ? 1 : 0),
  ).reduce((a, b) => a + b, 0);
  const start =
    FIXED_START !== null ? FIXED_START + before : Math.floor(Math.random() * 1_000_000_000);
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Runs the seeds and prints what they did; failures with their seed and last steps. */
export async function runShard(seeds: readonly number[]): Promise<SeedBatchSummary> {
  // A third of the seeds (drawn by each) also run the upgrade workload to todo version 2.
  const summary = await runSeeds({
    schema: todoSchema,
    upgrade: todoV2,
    seeds,
    operations: OPERATIONS,
  });
  const faults = FAULT_KINDS.map((k) => `${k} ${summary.faults[k]}`).join(', ');
  console.log(
    `simulation: seeds run ${summary.seeds} (${seeds[0]}..${seeds[seeds.length - 1]}), operations ${summary.operations}, ` +
      `steps ${summary.steps}, invariant violations ${summary.violations}, ${(summary.wallMs / 1000).toFixed(1)} s\n` +
      `faults injected: ${faults}`,
  );
  for (const failure of summary.failures) console.log(describeFailure(failure));
  return summary;
}

export function describeFailure(result: SimulationResult): string {
  return [
    `FAIL seed ${result.seed}: replay with SEED=${result.seed} npm run sim -- --trace (or SEED=${result.seed} npx vitest run test/simulation)`,
    ...result.violations.map((v) => `  [${v.invariant}] at step ${v.step}: ${v.message}`),
    '  last steps:',
    ...result.trace.slice(-60).map((line) => `    ${line}`),
  ].join('\n');
}

/**
 * The suite of one shard of the CI seed budget: every seed of `shardSeeds(shard, shards)` runs
 * and none may break an invariant.
 */
export function describeShard(shard: number, shards: number): void {
  const seeds = shardSeeds(shard, shards);
  describe.runIf(seeds.length > 0)(`the deterministic simulation, shard ${shard}`, () => {
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
}

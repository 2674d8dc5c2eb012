import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: the "@ferry/source" export condition points every
// workspace package at its src/ instead of its built dist/.
const conditions = ['@ferry/source', 'module', 'node', 'import', 'default'];
// Vitest also hands the SSR conditions to its Node workers as --conditions flags, where they
// apply to require() too: "import" there makes a CommonJS package (pg) require the ESM build of
// a dependency (pg-pool). Vite adds import/require by itself, so list only our own condition.
const ssrConditions = ['@ferry/source', 'node'];

/**
 * The test tiers: the same suites, with budgets that differ.
 *
 * - `npm test` (vitest's default mode) runs every suite with the quick budgets below: each
 *   feature is still exercised (every crash point killed, seeds of every shard run, the torture
 *   and concurrency runs timed), in a few minutes, so it can run often.
 * - `npm run test:ci` (`vitest run --mode ci`, what `.ci/run` runs) uses the suites' own defaults,
 *   the full budgets.
 *
 * A budget set in the environment wins over both. A suite with a budget of its own that makes
 * it long belongs in this table with its quick value; one without a budget runs the same in both
 * tiers. FERRY_SNAPSHOT_ROWS is not here on purpose: a smaller snapshot could not tell streaming
 * from buffering under that test's memory bound.
 */
const QUICK_BUDGETS: Readonly<Record<string, string>> = {
  FERRY_SIM_SEEDS: '20', // full: 500 seeds over the simulation shards
  FERRY_CRASH_KILLS: '3', // full: 20 kills per crash point
  FERRY_TORTURE_SECONDS: '5', // full: 20 s of PostgreSQL torture
  FERRY_CONCURRENCY_MS: '1000', // full: 2,000 ms of concurrent pushes and pulls
};

function budgets(mode: string): Record<string, string> {
  if (mode === 'ci') return {};
  return Object.fromEntries(
    Object.entries(QUICK_BUDGETS).filter(([name]) => process.env[name] === undefined),
  );
}

export default defineConfig(({ mode }) => ({
  resolve: { conditions },
  ssr: { resolve: { conditions: ssrConditions, externalConditions: ['@ferry/source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    env: budgets(mode),
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // expect.poll waits for what comes later by design (a status count refreshed after a write
    // waits out its spacing, up to ten times the last refresh; a live query answers after its
    // re-read): vitest's default of 1 s failed a green Chromium run on a loaded CI machine, so
    // every poll gets 10 s unless it says otherwise. Polls pass as soon as they hold.
    expect: { poll: { timeout: 10_000 } },
    pool: 'forks',
    // Two cores on CI: keep parallelism modest so timing-sensitive servers are not starved. The
    // CI tier runs one fork: with two forks busy on both cores, vitest's own process was starved
    // past its fixed 60 s worker RPC timeout ("Timeout calling onTaskUpdate") in two of three
    // full runs, failing green runs; one fork leaves it a core.
    poolOptions: { forks: { maxForks: mode === 'ci' ? 1 : 2, minForks: 1 } },
  },
}));

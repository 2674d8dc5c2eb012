import { describe, expect, it } from 'vitest';
import { emptyFaultCounts } from './fault-kinds.js';
import { FAILURES_KEPT_WHOLE, addResult, emptySummary } from './run-seeds.js';
import type { SimulationResult } from './simulation-types.js';

/** The result of a seed, failing or not, with a trace of 120 lines. */
function resultOf(seed: number, ok: boolean): SimulationResult {
  return {
    seed,
    ok,
    violations: ok ? [] : [{ invariant: 'convergence', step: 7, message: `seed ${seed} diverged` }],
    operations: 300,
    steps: 700,
    faults: emptyFaultCounts(),
    stats: { pushes: 2 },
    trace: Array.from({ length: 120 }, (_, i) => `#${i} seed ${seed} step`),
    traceHash: `hash-${seed}`,
    config: { mode: 'explicit' },
    wallMs: 900,
  };
}

describe('a summary of many seeds', () => {
  it('keeps every failing seed and its violations, and the traces of the first failures only', () => {
    const summary = emptySummary();
    for (let seed = 1; seed <= 1_000; seed++) addResult(summary, resultOf(seed, seed % 4 !== 0));
    expect(summary.seeds).toBe(1_000);
    expect(summary.violations).toBe(250);
    expect(summary.stats).toEqual({ pushes: 2_000 });
    expect(summary.failures.map((f) => f.seed)).toEqual(
      Array.from({ length: 250 }, (_, i) => 4 * (i + 1)),
    );
    expect(summary.failures.every((f) => f.violations.length === 1)).toBe(true);
    const traced = summary.failures.filter((f) => f.trace.length > 0);
    expect(traced.map((f) => f.seed)).toEqual(
      Array.from({ length: FAILURES_KEPT_WHOLE }, (_, i) => 4 * (i + 1)),
    );
    expect(traced.every((f) => f.trace.length === 120)).toBe(true);
  });
});

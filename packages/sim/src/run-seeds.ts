import type { Schema } from '@ferry/protocol';
import { emptyFaultCounts, type FaultKind } from './fault-kinds.js';
import { untilStalled } from './process-stall.js';
import { runSimulation } from './run-simulation.js';
import type { SimulationOptions, SimulationResult } from './simulation-types.js';
import { Trace } from './trace.js';
import { releaseVirtualDate } from './virtual-date.js';

/** Options of {@link runSeeds}: those of a run, for many seeds. */
export interface SeedBatchOptions<S extends Schema = Schema> extends Omit<
  SimulationOptions<S>,
  'seed'
> {
  /** The seeds to run. */
  readonly seeds: Iterable<number>;
  /** Stop after the first failing seed (default false). */
  readonly stopOnFailure?: boolean;
  /** Called after every seed. */
  readonly onResult?: (result: SimulationResult) => void;
}

/** What a batch of seeds did. */
export interface SeedBatchSummary {
  readonly seeds: number;
  readonly operations: number;
  readonly steps: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  /** Violations over every seed (must be 0). */
  readonly violations: number;
  /**
   * The failing runs, with their seed and violations; the first {@link FAILURES_KEPT_WHOLE}
   * also with their last trace lines (replay any other by its seed).
   */
  readonly failures: readonly SimulationResult[];
  readonly stats: Readonly<Record<string, number>>;
  readonly wallMs: number;
}

/**
 * Runs seeds one after another in this process and adds up what they did. Between two seeds it
 * yields to the event loop once, so that nothing of one run can leak into the next. A seed whose
 * run stalls the process fails (see {@link runSeed}) and the batch goes on.
 */
export async function runSeeds<S extends Schema>(
  options: SeedBatchOptions<S>,
): Promise<SeedBatchSummary> {
  const started = performance.now();
  const { seeds, stopOnFailure, onResult, ...run } = options;
  const summary = emptySummary();
  for (const seed of seeds) {
    const result = await runSeed({ ...run, seed });
    addResult(summary, result);
    onResult?.(result);
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!result.ok && stopOnFailure) break;
  }
  return { ...summary, wallMs: Math.round(performance.now() - started) };
}

/**
 * Runs one seed, like `runSimulation`. A run that stalls the process (it waits on something
 * nothing will ever settle, so the event loop empties) would end the process; it fails instead
 * with an `error` violation and the trace it wrote, and gives the global `Date` back. Its files
 * stay where the run put them.
 */
export async function runSeed<S extends Schema>(
  options: SimulationOptions<S>,
): Promise<SimulationResult> {
  const started = performance.now();
  const trace = new Trace({ keep: options.traceLines ?? 120, full: options.fullTrace ?? false });
  const onTrace = (line: string) => {
    trace.line(line);
    options.onTrace?.(line);
  };
  return untilStalled(runSimulation({ ...options, onTrace }), () => {
    releaseVirtualDate();
    return stalledResult(options.seed, trace, Math.round(performance.now() - started));
  });
}

/**
 * Failing runs a summary keeps with their trace. Later failures keep their seed and violations
 * only, so that a long run with many failures stays in bounded memory.
 */
export const FAILURES_KEPT_WHOLE = 10;

/** A mutable summary, for adding results from several places (workers). */
export interface MutableSummary {
  seeds: number;
  operations: number;
  steps: number;
  faults: Record<FaultKind, number>;
  violations: number;
  failures: SimulationResult[];
  stats: Record<string, number>;
  wallMs: number;
}

export function emptySummary(): MutableSummary {
  return {
    seeds: 0,
    operations: 0,
    steps: 0,
    faults: emptyFaultCounts(),
    violations: 0,
    failures: [],
    stats: {},
    wallMs: 0,
  };
}

export function addResult(summary: MutableSummary, result: SimulationResult): void {
  summary.seeds++;
  summary.operations += result.operations;
  summary.steps += result.steps;
  for (const [kind, n] of Object.entries(result.faults)) summary.faults[kind as FaultKind] += n;
  for (const [what, n] of Object.entries(result.stats))
    summary.stats[what] = (summary.stats[what] ?? 0) + n;
  summary.violations += result.violations.length;
  if (!result.ok) {
    summary.failures.push(
      summary.failures.length < FAILURES_KEPT_WHOLE ? result : { ...result, trace: [] },
    );
  }
}

/** The result of a run that stalled, from the trace it wrote (its counts are unknown). */
function stalledResult(seed: number, trace: Trace, wallMs: number): SimulationResult {
  const lines = trace.all() ?? trace.tail();
  const step = Number(/^#(\d+)/.exec(lines.at(-1) ?? '')?.[1] ?? 0);
  return {
    seed,
    ok: false,
    violations: [
      {
        invariant: 'error',
        step,
        message:
          'the run stalled: it waits on something nothing will ever settle (the process had ' +
          'nothing left to run)',
      },
    ],
    operations: 0,
    steps: step,
    faults: emptyFaultCounts(),
    stats: {},
    trace: lines,
    traceHash: trace.digest(),
    config: {},
    wallMs,
  };
}

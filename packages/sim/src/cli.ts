/**
 * `npm run sim`: runs the deterministic simulation over many seeds and reports what it did.
 *
 *     npm run sim                           # FERRY_SIM_SEEDS seeds (default 100) from a random start
 *     npm run sim -- --seeds 100000         # the long run
 *     SEED=1234 npm run sim                 # replay one seed (add --trace to print every step)
 *     npm run sim -- --schema ./my-schema.ts --seeds 500
 *
 * Options: `--seeds N`, `--start S` (first seed), `--seed S` (one seed), `--ops N` (operations
 * per seed, env FERRY_SIM_OPS), `--workers N` (processes, env FERRY_SIM_WORKERS, default 2),
 * `--schema FILE` (a module whose default export, or `schema` export, is the schema),
 * `--no-faults`, `--upgrades`/`--no-upgrades` and `--counters`/`--no-counters` (every seed runs
 * that workload, or none; default one seed in three each), `--trace`, `--quiet`. Failing seeds are written with their whole trace to
 * `.sim-failures/seed-<seed>.txt`. To see inside one seed, replay it with `FERRY_SIM_CLIENT_LOGS=1`
 * (the clients' log lines in the trace) and `FERRY_SIM_WATCH=<primary key>` (what the files hold of
 * that row after each log line). The exit code is 1 when any invariant was violated. The
 * summary (and every progress line) reports the memory of the simulating processes: a long run
 * must stay in bounded memory.
 *
 * @module
 */
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { todoSchema, todoV2 } from '@ferry/example-todo';
import type { Schema } from '@ferry/protocol';
import { FAULT_KINDS } from './fault-kinds.js';
import { MemoryWatch, mebibytes, type MemoryUse } from './memory-watch.js';
import {
  FAILURES_KEPT_WHOLE,
  addResult,
  emptySummary,
  runSeed,
  runSeeds,
  type MutableSummary,
} from './run-seeds.js';
import type { SimulationResult } from './simulation-types.js';

interface CliConfig {
  readonly seeds: number[];
  readonly operations: number;
  readonly faults: boolean;
  readonly schemaFile: string | null;
  /** `true`: every seed runs the upgrade workload; `false`: none; default one in three. */
  readonly upgrades: boolean | null;
  /** `true`: every seed runs the counter workload; `false`: none; default one in three. */
  readonly counters: boolean | null;
}

const { values } = parseArgs({
  options: {
    seeds: { type: 'string' },
    start: { type: 'string' },
    seed: { type: 'string' },
    ops: { type: 'string' },
    workers: { type: 'string' },
    schema: { type: 'string' },
    'no-faults': { type: 'boolean' },
    upgrades: { type: 'boolean' },
    'no-upgrades': { type: 'boolean' },
    counters: { type: 'boolean' },
    'no-counters': { type: 'boolean' },
    trace: { type: 'boolean' },
    quiet: { type: 'boolean' },
    worker: { type: 'boolean' },
  },
  allowPositionals: false,
});

if (values.worker) await workerMain();
else await main();

async function main(): Promise<void> {
  const env = process.env;
  const single = values.seed ?? env['SEED'];
  const operations = Number(values.ops ?? env['FERRY_SIM_OPS'] ?? 300);
  const count = Number(values.seeds ?? env['FERRY_SIM_SEEDS'] ?? 100);
  const start = Number(values.start ?? env['FERRY_SIM_START'] ?? Math.floor(Math.random() * 1e9));
  const seeds = single !== undefined ? [Number(single)] : range(start, count);
  const config: CliConfig = {
    seeds,
    operations,
    faults: !values['no-faults'],
    schemaFile: values.schema ?? null,
    upgrades: values.upgrades ? true : values['no-upgrades'] ? false : null,
    counters: values.counters ? true : values['no-counters'] ? false : null,
  };
  const workers = Math.max(
    1,
    Math.min(Number(values.workers ?? env['FERRY_SIM_WORKERS'] ?? 2), seeds.length),
  );
  const quiet = values.quiet === true;
  say(
    `ferry sim: ${seeds.length === 1 ? `seed ${seeds[0]}` : `seeds ${seeds[0]}..${seeds[seeds.length - 1]} (${seeds.length})`}, ` +
      `${operations} operations each${config.faults ? '' : ', no faults'}${workers > 1 ? `, ${workers} workers` : ''}`,
  );
  const summary = emptySummary();
  const memory: MemoryUse[] = [];
  const started = performance.now();
  let done = 0;
  const onResult: OnResult = (result, use, worker) => {
    addResult(summary, result);
    memory[worker] = use;
    done++;
    if (!result.ok) reportFailure(result);
    else if (!quiet && seeds.length > 1 && done % Math.max(1, Math.ceil(seeds.length / 20)) === 0) {
      say(
        `  ${done}/${seeds.length} seeds, ${summary.violations} violations, ` +
          `RSS ${Object.values(memory)
            .map((m) => mebibytes(m.rssBytes))
            .join(' + ')} MiB`,
      );
    }
  };
  if (workers === 1 || values.trace) {
    const schemas = await loadSchemas(config);
    const watch = new MemoryWatch();
    await runSeeds({
      ...schemas,
      seeds,
      operations,
      ...(config.faults ? {} : { faults: false as const }),
      ...(values.trace ? { onTrace: (line: string) => say(line) } : {}),
      onResult: (result) => onResult(result, watch.sample(), 0),
    });
  } else {
    await runInWorkers(config, workers, onResult);
  }
  summary.wallMs = Math.round(performance.now() - started);
  await writeFailures(summary, config);
  printSummary(summary, memory);
  process.exit(summary.violations > 0 ? 1 : 0);
}

/** Takes a seed's result with the memory of the process that ran it (worker 0 when in-process). */
type OnResult = (result: SimulationResult, memory: MemoryUse, worker: number) => void;

/** What a worker sends after each seed. */
interface WorkerMessage {
  readonly type: 'result';
  readonly result: SimulationResult;
  readonly memory: MemoryUse;
}

/** Runs the seeds in `workers` child processes, round-robin. */
async function runInWorkers(config: CliConfig, workers: number, onResult: OnResult): Promise<void> {
  const jobs: Promise<void>[] = [];
  for (let w = 0; w < workers; w++) {
    const seeds = config.seeds.filter((_, i) => i % workers === w);
    const child = fork(process.argv[1]!, ['--worker'], {
      execArgv: process.execArgv,
      env: { ...process.env, FERRY_SIM_WORKER: JSON.stringify({ ...config, seeds }) },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    jobs.push(
      new Promise<void>((resolveJob, reject) => {
        child.on('message', (message: WorkerMessage) => {
          if (message.type === 'result') onResult(message.result, message.memory, w);
        });
        child.on('error', reject);
        child.on('exit', (code) =>
          code === 0 ? resolveJob() : reject(new Error(`a simulation worker exited with ${code}`)),
        );
      }),
    );
  }
  await Promise.all(jobs);
}

async function workerMain(): Promise<void> {
  const config = JSON.parse(process.env['FERRY_SIM_WORKER'] ?? '{}') as CliConfig;
  const schemas = await loadSchemas(config);
  const watch = new MemoryWatch();
  await runSeeds({
    ...schemas,
    seeds: config.seeds,
    operations: config.operations,
    ...(config.faults ? {} : { faults: false as const }),
    onResult: (result) => {
      const message: WorkerMessage = {
        type: 'result',
        result: result.ok ? { ...result, trace: [] } : result,
        memory: watch.sample(),
      };
      process.send?.(message);
    },
  });
  process.disconnect?.();
  process.exit(0);
}

/**
 * The schema to simulate and its next version for the upgrade workload: the todo example's
 * first two versions, or a module's `default` (or `schema`) and its optional `upgrade`.
 */
async function loadSchemas(
  config: CliConfig,
): Promise<{ schema: Schema; upgrade?: Schema; upgrades?: boolean; counters?: boolean }> {
  const forced = {
    ...(config.upgrades === null ? {} : { upgrades: config.upgrades }),
    ...(config.counters === null ? {} : { counters: config.counters }),
  };
  const file = config.schemaFile;
  if (file === null) return { schema: todoSchema, upgrade: todoV2, ...forced };
  const module = (await import(pathToFileURL(resolve(file)).href)) as {
    default?: Schema;
    schema?: Schema;
    upgrade?: Schema;
  };
  const schema = module.default ?? module.schema;
  if (!schema || typeof schema.table !== 'function') {
    throw new Error(`${file} must export a schema made by defineSchema() (default or "schema")`);
  }
  return module.upgrade ? { schema, upgrade: module.upgrade, ...forced } : { schema, ...forced };
}

function reportFailure(result: SimulationResult): void {
  say(`FAIL seed ${result.seed}:`);
  for (const v of result.violations) say(`  [${v.invariant}] at step ${v.step}: ${v.message}`);
  say(`  replay: SEED=${result.seed} npm run sim   (add -- --trace to print every step)`);
  say('  last steps:');
  for (const line of result.trace.slice(-40)) say(`    ${line}`);
}

/** Replays each failing seed with its whole trace into .sim-failures/ (the run is deterministic). */
async function writeFailures(summary: MutableSummary, config: CliConfig): Promise<void> {
  if (summary.failures.length === 0) return;
  const schemas = await loadSchemas(config);
  const dir = join(process.cwd(), '.sim-failures');
  mkdirSync(dir, { recursive: true });
  for (const failure of summary.failures.slice(0, FAILURES_KEPT_WHOLE)) {
    const again = await runSeed({
      ...schemas,
      seed: failure.seed,
      operations: config.operations,
      ...(config.faults ? {} : { faults: false as const }),
      fullTrace: true,
    });
    const same =
      again.traceHash === failure.traceHash ? 'replayed identically' : 'DID NOT REPLAY IDENTICALLY';
    const file = join(dir, `seed-${failure.seed}.txt`);
    writeFileSync(
      file,
      [
        `seed ${failure.seed} (${same})`,
        ...failure.violations.map((v) => `[${v.invariant}] at step ${v.step}: ${v.message}`),
        '',
        ...again.trace,
        '',
      ].join('\n'),
    );
    say(`  whole trace of seed ${failure.seed}: ${file} (${same})`);
  }
}

function printSummary(summary: MutableSummary, memory: readonly MemoryUse[]): void {
  const faults = FAULT_KINDS.filter((k) => summary.faults[k] > 0)
    .map((k) => `${k} ${summary.faults[k]}`)
    .join(', ');
  const peakRss = memory.map((m) => mebibytes(m.peakRssBytes));
  const peakHeap = memory.map((m) => mebibytes(m.peakHeapUsedBytes));
  const seedsPerSecond = summary.wallMs > 0 ? (summary.seeds * 1000) / summary.wallMs : 0;
  say(
    `seeds run: ${summary.seeds}; operations: ${summary.operations}; steps: ${summary.steps}; ` +
      `invariant violations: ${summary.violations}; ${(summary.wallMs / 1000).toFixed(1)} s ` +
      `(${seedsPerSecond.toFixed(2)} seeds/s)`,
  );
  say(`faults injected: ${faults || 'none'}`);
  say(
    `peak memory per process: RSS ${peakRss.join(', ')} MiB; heap used ${peakHeap.join(', ')} MiB`,
  );
  console.log(
    JSON.stringify({
      sim: 'summary',
      seeds: summary.seeds,
      operations: summary.operations,
      steps: summary.steps,
      faults: summary.faults,
      violations: summary.violations,
      failing_seeds: summary.failures.map((f) => f.seed),
      wall_ms: summary.wallMs,
      seeds_per_s: Math.round(seedsPerSecond * 100) / 100,
      peak_rss_mib: Math.max(0, ...peakRss),
      peak_heap_used_mib: Math.max(0, ...peakHeap),
      peak_rss_mib_by_process: peakRss,
    }),
  );
}

function range(start: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

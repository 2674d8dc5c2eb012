/**
 * The benchmark harness: runs every `bench/**\/*.bench.ts` (or those whose name contains the
 * filter) in a child process of its own, so each bench's peak RSS is its own, and forwards the
 * JSON lines it prints. With a repeat count, also prints the median of each result.
 *
 *   npm run bench                       # every bench once
 *   npm run bench -- push               # benches whose file name contains "push"
 *   npm run bench -- --repeat 3 server  # three runs each, then a median line per result
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
let repeat = Number(process.env.BENCH_REPEAT ?? 1);
const filters: string[] = [];
for (let i = 0; i < args.length; i++) {
  const arg = args[i]!;
  if (arg === '--repeat' || arg === '-r') repeat = Number(args[++i]);
  else if (arg.startsWith('--repeat=')) repeat = Number(arg.slice('--repeat='.length));
  else filters.push(arg);
}
if (!Number.isInteger(repeat) || repeat < 1) {
  console.error('--repeat needs a positive integer');
  process.exit(2);
}

const files = findBenchFiles(here)
  .map((file) => relative(here, file))
  .filter((file) => filters.length === 0 || filters.some((f) => file.includes(f)))
  .sort();
if (files.length === 0) {
  console.error(`no bench file matches ${filters.join(', ')}`);
  process.exit(2);
}

/**
 * What tells one result from another (a median is taken over the runs of one result): its name
 * and the parameters a bench puts beside it.
 */
const IDENTITY = ['bench', 'store', 'size', 'history_bundles', 'acked_rows'] as const;
const results = new Map<string, Record<string, unknown>[]>();
let failed = false;
for (const file of files) {
  for (let run = 1; run <= repeat; run++) {
    const lines = await runBench(join(here, file));
    if (lines === undefined) {
      failed = true;
      break;
    }
    for (const line of lines) {
      const key = JSON.stringify(IDENTITY.map((name) => line[name] ?? null));
      results.set(key, [...(results.get(key) ?? []), line]);
    }
  }
}
if (repeat > 1) {
  for (const runs of results.values()) {
    const median: Record<string, unknown> = { bench: runs[0]!.bench, median_of: runs.length };
    for (const key of Object.keys(runs[0]!)) {
      if (key === 'bench') continue;
      const values = runs.map((r) => r[key]);
      median[key] = values.every((v) => typeof v === 'number') ? medianOf(values) : values[0];
    }
    console.log(JSON.stringify(median));
  }
}
process.exit(failed ? 1 : 0);

function findBenchFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findBenchFiles(path);
    return entry.name.endsWith('.bench.ts') ? [path] : [];
  });
}

/** Runs one bench file with tsx; forwards and returns its JSON lines, undefined on failure. */
function runBench(file: string): Promise<Record<string, unknown>[] | undefined> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: process.env,
    });
    const lines: Record<string, unknown>[] = [];
    let buffer = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      buffer += chunk;
      let newline: number;
      while ((newline = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        handle(line);
      }
    });
    const handle = (line: string) => {
      if (line.trim() === '') return;
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (typeof parsed.bench === 'string') lines.push(parsed);
      } catch {
        // not a result line: forwarded as is
      }
      console.log(line);
    };
    child.on('close', (code) => {
      handle(buffer);
      if (code !== 0) console.error(`${relative(here, file)} exited with ${code}`);
      resolve(code === 0 ? lines : undefined);
    });
  });
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return Math.round(median * 100) / 100;
}

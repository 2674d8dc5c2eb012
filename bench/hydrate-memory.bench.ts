/**
 * Hydration memory: a fresh client process hydrates N todos from a server in its own process,
 * and reports its peak RSS (`process.resourceUsage().maxRSS`: the kernel's, not sampled), its RSS
 * once the client was open (`rss_before_mb`) and its peak heap (`peak_heap_used_mb`, sampled
 * every 5 ms). Beside it, `raw_select_peak_rss_mb`: a fresh process that opens better-sqlite3 on
 * the hydrated file and reads every todo (the floor of a Node process holding SQLite and the
 * rows' pages). Sizes `BENCH_HYDRATE_SIZES` (default `10000,100000`); the issue's target: 100,000
 * rows hydrate within 150 MB of client peak RSS.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { forkBenchServer } from './support/fork-server.js';
import { report } from './support/report.js';
import { pushAll, todoBundles } from './support/todo-server.js';

const run = promisify(execFile);
const sizes = (process.env.BENCH_HYDRATE_SIZES ?? '10000,100000').split(',').map(Number);
const child = fileURLToPath(new URL('./hydrate-child.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-hydrate-'));

/** Runs a script in a fresh Node process; returns the JSON line it printed. */
async function fresh(args: string[]): Promise<Record<string, number>> {
  const { stdout } = await run(process.execPath, args, {
    maxBuffer: 16 * 1024 * 1024,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, number>;
}

const RAW_SELECT = `
const Database = require('better-sqlite3');
const db = new Database(process.argv[1], { readonly: true });
const rows = db.prepare('SELECT * FROM todos').all();
console.log(JSON.stringify({ rows: rows.length, peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10 }));
`;

try {
  for (const n of sizes) {
    const server = await forkBenchServer();
    try {
      await pushAll(server.url, server.token, todoBundles(n, 1_000));
      const path = join(dir, `hydrated-${n}.db`);
      const hydrated = await fresh([child, server.url, server.token, path, String(n + 1)]);
      const { stdout } = await run(process.execPath, ['-e', RAW_SELECT, path], {
        cwd: fileURLToPath(new URL('../packages/client/', import.meta.url)),
      });
      const raw = JSON.parse(stdout) as { rows: number; peak_rss_mb: number };
      report({
        bench: 'hydrate_memory',
        size: n,
        n,
        wall_ms: hydrated.wall_ms!,
        rows_per_s: Math.round((n / hydrated.wall_ms!) * 1000),
        peak_rss_mb: hydrated.peak_rss_mb!,
        rss_before_mb: hydrated.rss_before_mb!,
        peak_heap_used_mb: hydrated.peak_heap_used_mb!,
        heap_before_mb: hydrated.heap_before_mb!,
        raw_select_peak_rss_mb: raw.peak_rss_mb,
      });
    } finally {
      await server.stop();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}

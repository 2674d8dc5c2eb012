/**
 * End-to-end sync over HTTP on loopback, the server in a child process of its own:
 * - `e2e_push`: one client holds 100,000 todos written offline (in writes of 1,000 rows) and
 *   syncs them to an empty server (hydrating the empty snapshot first, then bundles of 10,000);
 * - `e2e_hydrate`: a second, fresh client hydrates them from `GET /v1/snapshot`;
 * - `e2e_pull`: a third pulls them incrementally from checkpoint 0 (`POST /v1/sync`-less
 *   `GET /v1/pull`, pages of 5,000 rows).
 * `peak_rss_mb` is the client process's RSS peak during that phase (sampled every 5 ms, after a
 * full GC at its start); `start_rss_mb` the RSS the phase started from.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createClient, type ClientOptions } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { forkBenchServer } from './support/fork-server.js';
import { benchRows, perSecond, report, round, timed } from './support/report.js';

const n = benchRows();
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-e2e-'));
const server = await forkBenchServer();

// A full GC before each phase, so a phase's RSS peak is not the previous phase's garbage.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
let peak = 0;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const phase = async <T>(fn: () => Promise<T>) => {
  gc();
  peak = process.memoryUsage().rss;
  const startMb = round(peak / 1024 / 1024);
  const result = await timed(fn);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { ...result, peakMb: round(peak / 1024 / 1024), startMb };
};
const open = (name: string, options: Partial<ClientOptions<typeof todoSchema>> = {}) =>
  createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(join(dir, `${name}.db`)),
    url: server.url,
    getToken: () => server.token,
    requestTimeoutMs: 120_000,
    autoSync: false,
    ...options,
  });

try {
  const writer = await open('writer');
  const listId = randomUUID();
  const offline = await phase(async () => {
    await writer.write((tx) => tx.insert('lists', { id: listId, name: 'bench' }));
    for (let start = 0; start < n; start += 1_000) {
      await writer.write((tx) => {
        for (let i = start; i < Math.min(n, start + 1_000); i++) {
          tx.insert('todos', {
            id: randomUUID(),
            list_id: listId,
            title: `todo number ${i}`,
            position: i,
          });
        }
      });
    }
  });
  report({
    bench: 'e2e_offline_write',
    n,
    wall_ms: offline.wallMs,
    rows_per_s: perSecond(n, offline.wallMs),
    peak_rss_mb: offline.peakMb,
    start_rss_mb: offline.startMb,
    rows_per_write: 1_000,
  });

  const push = await phase(() => writer.sync());
  if (push.value.pushed !== n + 1)
    throw new Error(`pushed ${push.value.pushed}, expected ${n + 1}`);
  report({
    bench: 'e2e_push',
    n: push.value.pushed,
    wall_ms: push.wallMs,
    rows_per_s: perSecond(push.value.pushed, push.wallMs),
    peak_rss_mb: push.peakMb,
    start_rss_mb: push.startMb,
    bundles: push.value.bundlesPushed,
  });
  await writer.close();

  const hydrating = await open('hydrated');
  const hydrate = await phase(() => hydrating.sync());
  if (!hydrate.value.hydrated || hydrate.value.pulled !== n + 1) {
    throw new Error(`hydrated ${hydrate.value.pulled}, expected ${n + 1}`);
  }
  report({
    bench: 'e2e_hydrate',
    n: hydrate.value.pulled,
    wall_ms: hydrate.wallMs,
    rows_per_s: perSecond(hydrate.value.pulled, hydrate.wallMs),
    peak_rss_mb: hydrate.peakMb,
    start_rss_mb: hydrate.startMb,
  });
  await hydrating.close();

  const pulling = await open('pulled', { initialSync: 'pull' });
  const pull = await phase(() => pulling.sync());
  if (pull.value.pulled !== n + 1)
    throw new Error(`pulled ${pull.value.pulled}, expected ${n + 1}`);
  report({
    bench: 'e2e_pull',
    n: pull.value.pulled,
    wall_ms: pull.wallMs,
    rows_per_s: perSecond(pull.value.pulled, pull.wallMs),
    peak_rss_mb: pull.peakMb,
    start_rss_mb: pull.startMb,
    bundles: pull.value.bundlesPulled,
  });
  await pulling.close();
} finally {
  clearInterval(sampler);
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

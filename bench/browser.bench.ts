/**
 * Ferry in Chromium (the engine on the page, wa-sqlite in a dedicated worker on OPFS) beside
 * Ferry on Node (better-sqlite3), against a real server over HTTP on loopback:
 *
 * - `browser_sqlite_<library>`: the library choice: 10,000 rows inserted in one transaction, the
 *   median one-row commit, and a select of them, through wa-sqlite (Ferry's driver, OPFS and
 *   IndexedDB) and `@sqlite.org/sqlite-wasm` (its OPFS pool), all in a worker;
 * - `browser_client_write` / `node_client_write`: one-row `client.write`, p50 and p99 (µs);
 * - `browser_live_query_cross_tab`: a write in one tab until a live query in another tab has
 *   the new rows (20 writes: median and max, ms);
 * - `browser_hydrate` / `node_hydrate`: a fresh client hydrating 100,000 todos (rows/s; the
 *   page's JS heap after, and the longest block of the page's thread);
 * - `browser_push` / `node_push`: 10,000 pending todos pushed (rows/s).
 *
 * Needs Debian's Chromium (`/usr/bin/chromium`); skipped with a line saying so without it.
 * `BROWSER_BENCH=compare` runs the library comparison alone.
 */
import { copyFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomUUID } from 'node:crypto';
import { build } from 'esbuild';
import { browserBundle } from '../test/browser/support/browser-bundle.js';
import { CHROMIUM_PATH, launchChromium, profileDir } from '../test/browser/support/chromium.js';
import { startPageClient } from '../test/browser/support/page-client.js';
import { serveStatic } from '../test/browser/support/static-server.js';
import { nodeFigures } from './support/node-client-figures.js';
import { benchRows, perSecond, report, round } from './support/report.js';
import { signToken } from '@ferry/server';
import { BENCH_SECRET, pushAll, startBenchServer, todoBundles } from './support/todo-server.js';

const here = dirname(fileURLToPath(import.meta.url));

if (!existsSync(CHROMIUM_PATH)) {
  console.log(JSON.stringify({ bench: 'browser', skipped: `no Chromium at ${CHROMIUM_PATH}` }));
} else {
  await run();
}

async function run(): Promise<void> {
  const dir = await browserBundle();
  await build({
    entryPoints: { compare: join(here, 'browser/compare-worker.ts') },
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    conditions: ['@ferry/source'],
    outdir: dir,
    logLevel: 'error',
  });
  const wasm = createRequire(import.meta.url).resolve('@sqlite.org/sqlite-wasm/sqlite3.wasm');
  copyFileSync(wasm, join(dir, 'sqlite3.wasm'));
  const site = await serveStatic(dir);
  const bench = await startBenchServer({ store: 'sqlite', cors: '*' });
  const profile = profileDir();
  const context = await launchChromium(profile.path);
  try {
    const page = await context.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => 'ferryTest' in window);

    const compared = await page.evaluate(
      () =>
        new Promise<Record<string, unknown>[] | { error: string }>((resolve) => {
          const worker = new Worker('./compare.js', { type: 'module' });
          worker.onmessage = (event) => resolve(event.data);
          worker.postMessage('go');
        }),
    );
    if (!Array.isArray(compared)) throw new Error(compared.error);
    for (const line of compared) {
      const rate = line['insert_rows_per_s'] as number;
      report({
        bench: `browser_sqlite_${String(line['library'])}`,
        n: 10_000,
        wall_ms: round((10_000 / rate) * 1000),
        rows_per_s: rate,
        commit_ms_p50: line['commit_ms_p50'],
        select_rows_per_s: line['select_rows_per_s'],
      });
    }

    if (process.env['BROWSER_BENCH'] === 'compare') return;
    const rows = benchRows();
    const token = bench.token;
    const options = (name: string) => ({ name, url: bench.url, token });

    // Hydrate: the server holds `rows` todos of the bench user.
    await pushAll(bench.url, token, todoBundles(rows, 5_000));
    const reader = await startPageClient(page, options(`hydrate-${randomUUID()}`));
    const cdp = await context.newCDPSession(page);
    await cdp.send('Performance.enable');
    const hydrated = await reader.syncWatched();
    const { metrics } = await cdp.send('Performance.getMetrics');
    const heap = metrics.find((m) => m.name === 'JSHeapUsedSize')?.value ?? 0;
    await reader.close();

    // Writes, push and live queries on a second database with a list of its own.
    const writer = await startPageClient(page, options(`write-${randomUUID()}`));
    await writer.sync();
    const listId = randomUUID();
    await writer.write([{ op: 'insert', table: 'lists', row: { id: listId, name: 'bench' } }]);
    const latencies = (await writer.writeLatency(500, listId)).sort((a, b) => a - b);
    await writer.sync();
    const pushRows = 10_000;
    await writer.writeMany(pushRows, listId);
    let started = performance.now();
    const pushed = await writer.sync();
    const pushMs = performance.now() - started;

    // A live query in another tab of the same database (tabs share it through the group), for
    // a user of its own: the bench user's 100,000 todos would be hydrated by the leader first.
    const tabsToken = await signToken({ secret: BENCH_SECRET, userId: `tabs-${randomUUID()}` });
    const name = `tabs-${randomUUID()}`;
    const tabA = await context.newPage();
    await tabA.goto(site.url);
    await tabA.waitForFunction(() => 'ferryTest' in window);
    const a = await startPageClient(tabA, { ...options(name), token: tabsToken, tabs: true });
    const tabB = await context.newPage();
    await tabB.goto(site.url);
    await tabB.waitForFunction(() => 'ferryTest' in window);
    const b = await startPageClient(tabB, { ...options(name), token: tabsToken, tabs: true });
    const tabList = randomUUID();
    await b.write([{ op: 'insert', table: 'lists', row: { id: tabList, name: 'tabs' } }]);
    // Counts the todos of this list only: the leader also hydrates the bench user's others.
    const watch = await a.watch(`SELECT count(*) AS n FROM todos WHERE list_id = '${tabList}'`);
    const crossTab: number[] = [];
    for (let i = 0; i < 20; i++) {
      const expected = i + 1;
      const began = await b.writeTimed([
        {
          op: 'insert',
          table: 'todos',
          row: { id: randomUUID(), list_id: tabList, title: `t${i}` },
        },
      ]);
      started = performance.now();
      for (;;) {
        const results = await a.results<{ n: number }>(watch);
        const index = results.findIndex((r) => r[0]?.n === expected);
        if (index >= 0) {
          crossTab.push((await a.deliveredAt(watch))[index]! - began);
          break;
        }
        if (performance.now() - started > 10_000)
          throw new Error('the live query never saw the write');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
    crossTab.sort((x, y) => x - y);

    const node = await nodeFigures(bench.url, token, rows, pushRows);
    const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);
    const writeMs = sum(latencies) / 1000;
    report({
      bench: 'browser_client_write',
      n: latencies.length,
      wall_ms: round(writeMs),
      rows_per_s: perSecond(latencies.length, writeMs),
      p50_us: round(latencies[Math.floor(latencies.length / 2)]!),
      p99_us: round(latencies[Math.floor(latencies.length * 0.99)]!),
      ratio_node_p50: round(latencies[Math.floor(latencies.length / 2)]! / node.writeP50Us),
    });
    report({
      bench: 'node_client_write',
      n: 500,
      wall_ms: round(node.writeMs),
      rows_per_s: perSecond(500, node.writeMs),
      p50_us: node.writeP50Us,
      p99_us: node.writeP99Us,
    });
    report({
      bench: 'browser_live_query_cross_tab',
      n: crossTab.length,
      wall_ms: round(sum(crossTab)),
      rows_per_s: perSecond(crossTab.length, sum(crossTab)),
      p50_ms: round(crossTab[Math.floor(crossTab.length / 2)]!),
      max_ms: round(crossTab.at(-1)!),
    });
    report({
      bench: 'browser_hydrate',
      n: rows,
      wall_ms: hydrated.durationMs,
      rows_per_s: perSecond(rows, hydrated.durationMs),
      page_heap_mb: round(heap / 1024 / 1024),
      longest_block_ms: hydrated.longestGapMs,
      ratio_node: round(perSecond(rows, hydrated.durationMs) / node.hydrateRowsPerS),
    });
    report({
      bench: 'node_hydrate',
      n: rows,
      wall_ms: round(node.hydrateMs),
      rows_per_s: perSecond(rows, node.hydrateMs),
    });
    report({
      bench: 'browser_push',
      n: pushed.pushed,
      wall_ms: round(pushMs),
      rows_per_s: perSecond(pushed.pushed, pushMs),
      ratio_node: round(perSecond(pushed.pushed, pushMs) / perSecond(node.pushed, node.pushMs)),
    });
    report({
      bench: 'node_push',
      n: node.pushed,
      wall_ms: round(node.pushMs),
      rows_per_s: perSecond(node.pushed, node.pushMs),
    });
  } finally {
    await context.close();
    profile.remove();
    await bench.close();
    await site.close();
  }
}

/**
 * A fresh client process that hydrates once and reports its memory, for
 * `hydrate-memory.bench.ts`: the process's peak RSS is then the hydration's alone (a bench
 * process that ran other phases first keeps their memory mapped). Plain JavaScript on the built
 * packages, as an app runs it (a TypeScript loader would add its own memory). Arguments: the
 * server's url, a token, the path of the client's file, the rows expected. Prints one JSON line.
 */
import console from 'node:console';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { clearInterval, setInterval } from 'node:timers';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';

const [url, token, path, expected] = process.argv.slice(2);
const mb = (bytes) => Math.round((bytes / 1024 / 1024) * 10) / 10;
let heapPeak = 0;
const sampler = setInterval(() => {
  heapPeak = Math.max(heapPeak, process.memoryUsage().heapUsed);
}, 5);
const client = await createClient({
  schema: todoSchema,
  driver: betterSqlite3Driver(path),
  url,
  getToken: () => token,
  requestTimeoutMs: 300_000,
  autoSync: false,
});
await client.readStatus();
const before = process.memoryUsage();
const started = performance.now();
const report = await client.sync();
const wallMs = performance.now() - started;
clearInterval(sampler);
await client.close();
if (report.pulled !== Number(expected)) {
  throw new Error(`hydrated ${report.pulled} rows, expected ${expected}`);
}
console.log(
  JSON.stringify({
    wall_ms: Math.round(wallMs),
    rss_before_mb: mb(before.rss),
    heap_before_mb: mb(before.heapUsed),
    peak_rss_mb: mb(process.resourceUsage().maxRSS * 1024),
    peak_heap_used_mb: mb(heapPeak),
  }),
);

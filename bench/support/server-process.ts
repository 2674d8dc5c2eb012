/**
 * A bench server in a child process of its own, so a bench can report the server's memory and
 * CPU apart from the client's. Forked by `forkBenchServer()`; environment: BENCH_STORE
 * (`sqlite` or `postgres`), BENCH_PG_BUSINESS and BENCH_PG_META (shared PostgreSQL schemas),
 * BENCH_PG_POOL_MAX, BENCH_PG_CONNECT_TIMEOUT_MS. Talks over IPC: sends `{url, token}` when listening, answers `baseline`
 * (restarts the RSS peak and the longest block) with `{rss_mb, max_rss_mb}`, `peak` with
 * `{rss_mb, max_rss_mb, longest_block_ms}` (the longest gap between ticks of a 5 ms timer), `cpu` with `{cpu_s}`, and
 * exits on `stop`.
 */
import { monitorProcess } from './process-monitor.js';
import { round } from './report.js';
import { startBenchServer, type BenchStore } from './todo-server.js';

const store = (process.env.BENCH_STORE ?? 'sqlite') as BenchStore;
const business = process.env.BENCH_PG_BUSINESS;
const meta = process.env.BENCH_PG_META;
const bench = await startBenchServer({
  store,
  ...(business && meta ? { pgSchemas: { business, meta } } : {}),
  ...(process.env.BENCH_PG_POOL_MAX ? { pgPoolMax: Number(process.env.BENCH_PG_POOL_MAX) } : {}),
});
const monitor = monitorProcess();
const mb = (bytes: number) => round(bytes / 1024 / 1024);
process.on('message', (message: string) => {
  if (message === 'baseline') {
    monitor.restart();
    const { peakRss } = monitor.read();
    process.send!({
      rss_mb: mb(peakRss),
      max_rss_mb: round(process.resourceUsage().maxRSS / 1024),
    });
  } else if (message === 'peak') {
    const { peakRss, longestBlockMs } = monitor.read();
    process.send!({
      rss_mb: mb(peakRss),
      max_rss_mb: round(process.resourceUsage().maxRSS / 1024),
      longest_block_ms: round(longestBlockMs),
    });
  } else if (message === 'cpu') {
    const usage = process.cpuUsage();
    process.send!({ cpu_s: round((usage.user + usage.system) / 1e6) });
  } else if (message === 'stop') {
    monitor.stop();
    void bench.close().then(() => process.exit(0));
  }
});
process.send!({ url: bench.url, token: bench.token });

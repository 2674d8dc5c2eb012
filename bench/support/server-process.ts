/**
 * A bench server in a child process of its own, so a bench can report the server's memory
 * apart from the client's. Forked by `forkBenchServer()`; talks over IPC: sends `{url, token}`
 * when listening, answers `baseline` (restarts the RSS peak) and `peak` with
 * `{rss_mb, max_rss_mb}`, exits on `stop`.
 */
import { round } from './report.js';
import { startBenchServer } from './todo-server.js';

const bench = await startBenchServer();
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 5);
const mb = (bytes: number) => round(bytes / 1024 / 1024);
process.on('message', (message: string) => {
  if (message === 'baseline') {
    peak = process.memoryUsage().rss;
    process.send!({ rss_mb: mb(peak), max_rss_mb: round(process.resourceUsage().maxRSS / 1024) });
  } else if (message === 'peak') {
    peak = Math.max(peak, process.memoryUsage().rss);
    process.send!({ rss_mb: mb(peak), max_rss_mb: round(process.resourceUsage().maxRSS / 1024) });
  } else if (message === 'stop') {
    clearInterval(sampler);
    void bench.close().then(() => process.exit(0));
  }
});
process.send!({ url: bench.url, token: bench.token });

/**
 * snapshot: 100,000 rows streamed as NDJSON over HTTP from a server in its own process;
 * rows/s, and the server's RSS peak during the snapshot (and over its whole life).
 */
import { benchRows, perSecond, report, timed } from './support/report.js';
import { forkBenchServer } from './support/fork-server.js';
import { pushAll, todoBundles } from './support/todo-server.js';

const rows = benchRows();
const server = await forkBenchServer();
try {
  await pushAll(server.url, server.token, todoBundles(rows, 1_000));
  const before = await server.baseline();
  const { value: streamed, wallMs } = await timed(async () => {
    const response = await fetch(`${server.url}/v1/snapshot`, {
      headers: { authorization: `Bearer ${server.token}` },
    });
    if (response.status !== 200) throw new Error(`snapshot failed: ${response.status}`);
    let lines = 0;
    const reader = response.body!.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      for (const byte of value) if (byte === 10) lines++;
    }
    return lines - 2;
  });
  const after = await server.peak();
  report({
    bench: 'server_snapshot',
    n: streamed,
    wall_ms: wallMs,
    rows_per_s: perSecond(streamed, wallMs),
    server_rss_before_mb: before.rss_mb,
    server_peak_rss_mb: after.rss_mb,
    server_max_rss_mb: after.max_rss_mb,
  });
} finally {
  await server.stop();
}

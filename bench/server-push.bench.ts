/** push: 100,000 todos in bundles of 1,000 from one source over HTTP on loopback. */
import { benchRows, perSecond, report, timed } from './support/report.js';
import { pushAll, startBenchServer, todoBundles } from './support/todo-server.js';

const rows = benchRows();
const bundleSize = 1_000;
const bench = await startBenchServer();
try {
  const bodies = todoBundles(rows, bundleSize);
  const { value: committed, wallMs } = await timed(() => pushAll(bench.url, bench.token, bodies));
  report({
    bench: 'server_push',
    n: committed,
    wall_ms: wallMs,
    rows_per_s: perSecond(committed, wallMs),
    bundle_size: bundleSize,
  });
} finally {
  await bench.close();
}

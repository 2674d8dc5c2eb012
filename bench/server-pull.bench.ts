/** pull: the push bench's 100,000 rows pulled by a fresh cursor in pages of 5,000 over HTTP. */
import { benchRows, perSecond, report, timed } from './support/report.js';
import { pushAll, startBenchServer, todoBundles } from './support/todo-server.js';

const rows = benchRows();
const limit = 5_000;
const bench = await startBenchServer();
try {
  await pushAll(bench.url, bench.token, todoBundles(rows, 1_000));
  const { value, wallMs } = await timed(async () => {
    let after = 0;
    let pulled = 0;
    let pages = 0;
    for (;;) {
      const response = await fetch(`${bench.url}/v1/pull?after=${after}&limit=${limit}`, {
        headers: { authorization: `Bearer ${bench.token}` },
      });
      if (response.status !== 200) throw new Error(`pull failed: ${response.status}`);
      const page = (await response.json()) as {
        bundles: { bundleSeq: number; rows: unknown[] }[];
        hasMore: boolean;
      };
      pages++;
      for (const bundle of page.bundles) {
        pulled += bundle.rows.length;
        after = bundle.bundleSeq;
      }
      if (!page.hasMore) return { pulled, pages };
    }
  });
  report({
    bench: 'server_pull',
    n: value.pulled,
    wall_ms: wallMs,
    rows_per_s: perSecond(value.pulled, wallMs),
    page_limit: limit,
    pages: value.pages,
  });
} finally {
  await bench.close();
}

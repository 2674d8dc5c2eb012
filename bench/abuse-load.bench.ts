/**
 * Abuse under load: how much slower one user's pushes get while another user holds 200 unread
 * snapshot downloads open (the server refuses all but 2 of them; the abuse load tests assert
 * that, this bench measures the latency, which a test must not). The baseline is the same
 * user's pushes on the same server in the same run, before and after the abuse.
 *
 * `abuse_push_latency`, per store (`sqlite`, `postgres`): `n` pushes of 5
 * todos per phase (ABUSE_PUSHES, default 100), abuser rows ABUSE_ROWS (default 25,000);
 * `p50_ms`/`p99_ms` before and after the abuse (`_normal`) and during it (`_during`), and their
 * ratios `ratio_p50`/`ratio_p99` (the goal: under 2).
 */
import { percentile, runAbuseLoad } from '../packages/server/src/abuse/abuse-load-run.js';
import type { AbuseStoreKind } from '../packages/server/src/abuse/abuse-server.js';
import { benchDatabaseUrl, dropPgSchemas, freshPgSchemas } from './support/pg.js';
import { report, round } from './support/report.js';

const rows = Number(process.env.ABUSE_ROWS ?? 25_000);
const pushes = Number(process.env.ABUSE_PUSHES ?? 100);

const stores: AbuseStoreKind[] = ['sqlite', 'postgres'];
for (const store of stores) {
  const started = performance.now();
  const run = await runAbuseLoad(store, {
    rows,
    pushes,
    postgres: () => {
      const schemas = freshPgSchemas();
      return { databaseUrl: benchDatabaseUrl(), ...schemas, drop: () => dropPgSchemas(schemas) };
    },
  });
  const wallMs = performance.now() - started;
  const normal = [...run.before, ...run.after];
  const p = (values: readonly number[], q: number) => round(percentile(values, q));
  report({
    bench: 'abuse_push_latency',
    store,
    n: pushes,
    wall_ms: round(wallMs),
    rows_per_s: round((pushes * 3 * 5 * 1000) / wallMs),
    abuser_rows: rows,
    streamed: run.streamed,
    refused: run.refused,
    p50_ms_normal: p(normal, 0.5),
    p50_ms_during: p(run.during, 0.5),
    p99_ms_normal: p(normal, 0.99),
    p99_ms_during: p(run.during, 0.99),
    ratio_p50: round(percentile(run.during, 0.5) / percentile(normal, 0.5)),
    ratio_p99: round(percentile(run.during, 0.99) / percentile(normal, 0.99)),
    server_rss_growth_mb: round((run.peakRssBytes - run.baselineRssBytes) / 1024 / 1024),
  });
}

/* The abuse load test, shared by the SQLite (abuse-load.test.ts) and PostgreSQL
 * (abuse-load.pg.test.ts) runs: one user opens 200 snapshot downloads and reads none of them,
 * while another user pushes (abuse-load-run.ts). What must hold is structural: the abuser holds
 * at most its share of streams, the rest are refused, server memory stays bounded, and every
 * push of the other user is answered 200 while the abuse goes on. How much slower those pushes
 * get is a wall-clock ratio: printed here, measured by `npm run bench -- abuse`, never asserted.
 * Budgets: FERRY_ABUSE_ROWS (rows of the abuser, default 25,000) and FERRY_ABUSE_PUSHES (pushes
 * of the other user per phase, default 100). */
import { describe, expect, it } from 'vitest';
import { DATABASE_URL, testSchemas } from '../store/postgres/test-support/pg-test-database.js';
import { ABUSIVE_SNAPSHOTS, percentile, runAbuseLoad } from './abuse-load-run.js';
import type { AbuseStoreKind } from './abuse-server.js';

const ROWS = Number(process.env.FERRY_ABUSE_ROWS ?? 25_000);
const PUSHES = Number(process.env.FERRY_ABUSE_PUSHES ?? 100);
/** Server memory growth allowed while the abuse goes on (before the fix: 168 MiB → 1.98 GB). */
const MAX_GROWTH_MB = 150;

/** Registers the load test for one store. */
export function describeAbuseLoad(kind: AbuseStoreKind): void {
  describe(`one user's abuse under load (${kind})`, () => {
    it(`${ABUSIVE_SNAPSHOTS} unread snapshot downloads of one user hold at most 2 streams and bounded memory while another user's pushes all commit`, async () => {
      const run = await runAbuseLoad(kind, {
        rows: ROWS,
        pushes: PUSHES,
        postgres: () => ({ databaseUrl: DATABASE_URL, ...testSchemas() }),
      });
      const growthMb = (run.peakRssBytes - run.baselineRssBytes) / 1024 / 1024;
      const normal = [...run.before, ...run.after];
      const ms = (values: readonly number[], q: number) => percentile(values, q).toFixed(1);
      console.log(
        [
          `abuse load (${kind}): ${ABUSIVE_SNAPSHOTS} unread snapshots of one user (${ROWS} rows): ${run.streamed} streamed, ${run.refused} refused with 429`,
          `server RSS ${mb(run.baselineRssBytes)} MB → peak ${mb(run.peakRssBytes)} MB (growth ${growthMb.toFixed(1)} MB)`,
          `another user's push, ${PUSHES} per phase (not asserted; see the bench): p50 ${ms(normal, 0.5)} → ${ms(run.during, 0.5)} ms, p99 ${ms(normal, 0.99)} → ${ms(run.during, 0.99)} ms`,
        ].join('\n  '),
      );
      expect(run.other).toEqual([]);
      expect(run.streamed).toBeLessThanOrEqual(2);
      expect(run.streamed + run.refused).toBe(ABUSIVE_SNAPSHOTS);
      expect(growthMb).toBeLessThan(MAX_GROWTH_MB);
      // runAbuseLoad throws unless each of these pushes was answered 200.
      expect(run.during).toHaveLength(PUSHES);
    }, 120_000);
  });
}

function mb(bytes: number): number {
  return Math.round(bytes / 1024 / 1024);
}

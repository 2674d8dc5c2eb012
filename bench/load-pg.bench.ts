/**
 * load on PostgreSQL: 1,000 simulated devices (100 users × 10 sources), each pushing a 10-row
 * bundle and then pulling, in a loop, as fast as the server allows, for BENCH_LOAD_SECONDS
 * (default 30), against one and then two server instances (each in a process of its own) on
 * one database. Reports bundles committed per second, p50/p99 push latency, errors (must be
 * 0), and where the time goes: CPU seconds of the servers, of PostgreSQL and of this load
 * generator (÷ wall time = cores busy), and the mean number of backends waiting on a lock.
 *
 *   BENCH_LOAD_SECONDS=10 BENCH_LOAD_USERS=50 npm run bench -- load-pg
 */
import { randomUUID } from 'node:crypto';
import { signToken } from '@ferry/server';
import { forkBenchServer, type ForkedServer } from './support/fork-server.js';
import { dropPgSchemas, freshPgSchemas, postgresCpuSeconds, sampleActivity } from './support/pg.js';
import { report, round } from './support/report.js';
import { BENCH_SECRET } from './support/todo-server.js';

const USERS = Number(process.env.BENCH_LOAD_USERS ?? 100);
const SOURCES = Number(process.env.BENCH_LOAD_SOURCES ?? 10);
const SECONDS = Number(process.env.BENCH_LOAD_SECONDS ?? 30);
const ROWS = 10;
const INSTANCES = (process.env.BENCH_LOAD_INSTANCES ?? '1,2').split(',').map(Number);
/** `sqlite` runs the same load against one instance on the embedded store, for comparison. */
const STORE = process.env.BENCH_LOAD_STORE === 'sqlite' ? 'sqlite' : 'postgres';

let retries = 0;

/**
 * fetch, sent once more when the server had closed the kept-alive socket just as it was reused
 * (a race of HTTP keep-alive on a saturated machine; the request never reached the server, and
 * a push may be resent anyway: the same sourceBundleId is idempotent).
 */
async function send(url: string, init: RequestInit): Promise<Response> {
  try {
    return await fetch(url, init);
  } catch (error) {
    const cause = String((error as { cause?: unknown }).cause);
    if (!/other side closed|ECONNRESET/.test(cause)) throw error;
    retries++;
    return fetch(url, init);
  }
}

interface Device {
  readonly userId: string;
  readonly token: string;
  readonly sourceId: string;
  readonly listId: string;
  readonly url: string;
  next: number;
  after: number;
}

let failed = false;
for (const instances of INSTANCES) {
  const schemas = freshPgSchemas();
  const servers: ForkedServer[] = [];
  try {
    // One at a time, so the first creates the tables and the others find them.
    for (let i = 0; i < instances; i++) {
      servers.push(
        await forkBenchServer(
          STORE === 'sqlite'
            ? { store: 'sqlite' }
            : {
                store: 'postgres',
                pgSchemas: schemas,
                // A saturated server queues requests rather than answering 503 after 5 s.
                pgConnectionTimeoutMs: 120_000,
              },
        ),
      );
    }
    const devices: Device[] = [];
    for (let u = 0; u < USERS; u++) {
      const userId = `load-user-${u}`;
      const token = await signToken({ secret: BENCH_SECRET, userId });
      for (let s = 0; s < SOURCES; s++) {
        devices.push({
          userId,
          token,
          sourceId: randomUUID(),
          listId: randomUUID(),
          url: servers[(u * SOURCES + s) % instances]!.url,
          next: 1,
          after: 0,
        });
      }
    }
    const latencies: number[] = [];
    let errors = 0;
    retries = 0;
    let pulls = 0;
    let pulledBundles = 0;
    const firstErrors: string[] = [];
    const fail = (what: string) => {
      errors++;
      if (firstErrors.length < 5) firstErrors.push(what);
    };

    const serverCpuBefore = await Promise.all(servers.map((s) => s.cpu()));
    const pgCpuBefore = postgresCpuSeconds();
    const selfBefore = process.cpuUsage();
    const stopSampling = sampleActivity();
    const started = performance.now();
    const deadline = started + SECONDS * 1_000;

    await Promise.all(
      devices.map(async (device) => {
        while (performance.now() < deadline) {
          const changes: unknown[] = [];
          if (device.next === 1) {
            changes.push({
              table: 'lists',
              pk: device.listId,
              op: 'upsert',
              baseVersion: null,
              row: { id: device.listId, name: 'load' },
            });
          }
          while (changes.length < ROWS) {
            const id = randomUUID();
            changes.push({
              table: 'todos',
              pk: id,
              op: 'upsert',
              baseVersion: null,
              row: { id, list_id: device.listId, title: `todo ${device.next}`, done: false },
            });
          }
          const body = JSON.stringify({
            protocol: 1,
            sourceId: device.sourceId,
            sourceBundleId: device.next,
            changes,
          });
          const headers = {
            authorization: `Bearer ${device.token}`,
            'content-type': 'application/json',
          };
          try {
            const sent = performance.now();
            const response = await send(`${device.url}/v1/push`, {
              method: 'POST',
              headers,
              body,
            });
            const text = await response.text();
            if (response.status === 200) {
              latencies.push(performance.now() - sent);
              device.next++;
            } else {
              fail(`push ${response.status} ${text.slice(0, 200)}`);
            }
            const pulled = await send(`${device.url}/v1/pull?after=${device.after}&limit=5000`, {
              headers,
            });
            const page = (await pulled.json()) as { bundles?: { bundleSeq: number }[] };
            pulls++;
            if (pulled.status !== 200 || !page.bundles) {
              fail(`pull ${pulled.status} ${JSON.stringify(page).slice(0, 200)}`);
              continue;
            }
            pulledBundles += page.bundles.length;
            device.after = page.bundles.at(-1)?.bundleSeq ?? device.after;
          } catch (error) {
            fail(`${String(error)} (${String((error as { cause?: unknown }).cause)})`);
          }
        }
      }),
    );

    const wallMs = performance.now() - started;
    const wallS = wallMs / 1_000;
    const activity = await stopSampling();
    const self = process.cpuUsage(selfBefore);
    const pgCpu = postgresCpuSeconds() - pgCpuBefore;
    const serverCpu = (await Promise.all(servers.map((s) => s.cpu()))).map(
      (after, i) => after.cpu_s - serverCpuBefore[i]!.cpu_s,
    );
    const sorted = [...latencies].sort((a, b) => a - b);
    const percentile = (p: number) =>
      round(sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0);
    const serverCpuTotal = serverCpu.reduce((a, b) => a + b, 0);
    report({
      bench: STORE === 'sqlite' ? `load_sqlite_${instances}x` : `load_pg_${instances}x`,
      n: latencies.length,
      wall_ms: round(wallMs),
      rows_per_s: Math.round((latencies.length * ROWS) / wallS),
      bundles_per_s: Math.round(latencies.length / wallS),
      push_p50_ms: percentile(50),
      push_p99_ms: percentile(99),
      errors,
      keep_alive_retries: retries,
      devices: devices.length,
      instances,
      pulls,
      pulled_bundles: pulledBundles,
      server_cpu_s: round(serverCpuTotal),
      server_cores: round(serverCpuTotal / wallS),
      pg_cpu_s: round(pgCpu),
      pg_cores: round(pgCpu / wallS),
      loadgen_cpu_s: round((self.user + self.system) / 1e6),
      loadgen_cores: round((self.user + self.system) / 1e6 / wallS),
      lock_waits_avg: activity.lock_waits_avg,
      pg_active_avg: activity.active_avg,
    });
    if (errors > 0) {
      console.error(`load_pg_${instances}x: ${errors} errors, first: ${firstErrors.join(' | ')}`);
      failed = true;
    }
  } finally {
    await Promise.all(servers.map((s) => s.stop()));
    await dropPgSchemas(schemas);
  }
}
if (failed) process.exit(1);

/**
 * Propagation latency: device A writes one todo; the time until device B, connected to the
 * server's events stream, has it in its SQLite file. Both clients sync by themselves (the
 * scheduler): A pushes after its debounce, the server pokes B, B pulls and applies. One write
 * at a time (the next once B has the previous one), over HTTP on loopback, the server in a
 * child process of its own.
 *
 * - `propagation_latency`: debounce and minimum interval 0 on both devices,
 *   PROPAGATION_WRITES writes (default 200); target p50 under 50 ms.
 * - `propagation_latency_default`: the default schedule (2 s debounce, 2 s minimum interval),
 *   PROPAGATION_DEFAULT_WRITES writes (default 10; each takes about 2 s).
 *
 * `n` is the number of writes; `p50_ms`, `p99_ms` (nearest rank), `mean_ms` and `max_ms` are
 * per write; `rows_per_s` is writes propagated per second of the whole run.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type FerryClient, type SyncScheduleOverrides } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { forkBenchServer, type ForkedServer } from './support/fork-server.js';
import { report, round } from './support/report.js';

const WAIT_MS = 30_000;

const server = await forkBenchServer();
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-latency-'));
try {
  await measure('propagation_latency', Number(process.env.PROPAGATION_WRITES ?? 200), {
    debounceMs: 0,
    minIntervalMs: 0,
  });
  await measure(
    'propagation_latency_default',
    Number(process.env.PROPAGATION_DEFAULT_WRITES ?? 10),
    {},
  );
} finally {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
}

async function measure(bench: string, n: number, schedule: SyncScheduleOverrides) {
  const a = await open(server, `${bench}-a`, schedule);
  const b = await open(server, `${bench}-b`, schedule);
  try {
    const watch = watchFor(b);
    await until(() => b.status.realtime === 'connected' && b.status.lastSyncAt !== null);
    const listId = randomUUID();
    const listArrived = watch.arrival('lists', listId);
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'latency' }));
    await listArrived;

    const samples: number[] = [];
    const started = performance.now();
    for (let i = 0; i < n; i++) {
      const id = randomUUID();
      const arrived = watch.arrival('todos', id);
      const wrote = performance.now();
      await a.write((tx) => tx.insert('todos', { id, list_id: listId, title: `todo ${i}` }));
      samples.push((await arrived) - wrote);
    }
    const wallMs = round(performance.now() - started);
    const sorted = [...samples].sort((x, y) => x - y);
    const rank = (p: number) => sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
    report({
      bench,
      n,
      wall_ms: wallMs,
      rows_per_s: round((n / wallMs) * 1000),
      p50_ms: round(rank(0.5)),
      p99_ms: round(rank(0.99)),
      mean_ms: round(samples.reduce((s, x) => s + x, 0) / n),
      max_ms: round(sorted.at(-1)!),
      debounce_ms: schedule.debounceMs ?? 2_000,
      min_interval_ms: schedule.minIntervalMs ?? 2_000,
    });
  } finally {
    await a.close();
    await b.close();
  }
}

function open(
  forked: ForkedServer,
  name: string,
  schedule: SyncScheduleOverrides,
): Promise<FerryClient<TodoSchema>> {
  return createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(join(dir, `${name}.db`)),
    url: forked.url,
    getToken: () => forked.token,
    autoSync: schedule,
  });
}

/**
 * Resolves `arrival(table, id)` with the time (performance.now) at which device B's file had
 * the row: checked on each of B's `remote-change` events.
 */
function watchFor(b: FerryClient<TodoSchema>) {
  let waiting: { table: string; id: string; resolve: (at: number) => void } | null = null;
  let checking = false;
  const check = async () => {
    if (waiting === null || checking) return;
    checking = true;
    try {
      const want = waiting;
      const row = await b.get(`SELECT 1 AS found FROM ${want.table} WHERE id = ?`, [want.id]);
      if (row && waiting === want) {
        waiting = null;
        want.resolve(performance.now());
      }
    } finally {
      checking = false;
    }
    // A change that arrived while this check ran is checked again.
    if (waiting !== null && recheck) {
      recheck = false;
      await check();
    }
  };
  let recheck = false;
  b.subscribe((event) => {
    if (event.type !== 'remote-change') return;
    if (checking) recheck = true;
    else void check();
  });
  return {
    arrival(table: string, id: string): Promise<number> {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`${table} ${id} did not reach device B in ${WAIT_MS} ms`)),
          WAIT_MS,
        );
        waiting = {
          table,
          id,
          resolve: (at) => {
            clearTimeout(timer);
            resolve(at);
          },
        };
      });
    },
  };
}

async function until(condition: () => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('device B did not connect to the events stream');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

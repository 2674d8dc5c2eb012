/**
 * The four workloads Ferry is compared on, over HTTP on loopback, the server in a child process
 * of its own, on each store, beside raw better-sqlite3 (and PostgreSQL) doing the same rows in
 * the same run, so the ratios are what to read on a noisy machine:
 *
 * - W1 (`w1_write`, `w1_push`): one client writes N todos offline, one `client.write` each, then
 *   pushes them; against a raw one-transaction insert (`raw_insert_one_tx`) and raw per-row
 *   transactions (`raw_insert_per_row_tx`) of the same rows.
 * - W2 (`w2_hydrate`, `w2_pull`): a fresh client hydrates the N rows, another pulls them from
 *   checkpoint 0; against a raw select of the rows (`raw_select`).
 * - W3 (`w3_update_1pct`): the writer updates 1% of the rows in one write and syncs, the
 *   hydrated client syncs: wall time until it has them.
 * - W4 (`w4_concurrent_edits`): 1,000 rows edited on two devices on different fields (title on
 *   one, position on the other), then both sync until both have both edits.
 * - `w2_hydrate_worker`, `w1_push_worker`: a hydration of the N rows and a push of N more (written
 *   in one write) by a client whose database runs in a worker thread
 *   (`betterSqlite3WorkerDriver`), for the longest block of the client's event loop.
 *
 * Sizes `BENCH_WORKLOAD_SIZES` (default `10000,100000`), stores `BENCH_WORKLOAD_STORES` (default
 * `sqlite,postgres`; PostgreSQL at DATABASE_URL, fresh schemas dropped afterwards). Every Ferry
 * line carries `store`, `ratio` (its rate over the raw baseline it is compared with, where one
 * applies), `client_peak_rss_mb` (this process, sampled every 5 ms after a GC at the phase's
 * start), `server_peak_rss_mb` (the server process), and `client_longest_block_ms` and
 * `server_longest_block_ms`: the longest time each process's event loop did not turn during the
 * phase (the longest gap between ticks of a 5 ms timer).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import Database from 'better-sqlite3';
import { createClient, type ClientOptions, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { betterSqlite3WorkerDriver } from '@ferry/client/better-sqlite3-worker';
import { todoSchema } from '@ferry/example-todo';
import { forkBenchServer, type ForkedServer } from './support/fork-server.js';
import { monitorProcess } from './support/process-monitor.js';
import { perSecond, report, round, timed } from './support/report.js';
import { rawPgInsert } from './support/raw-inserts.js';
import type { BenchStore } from './support/todo-server.js';

const sizes = (process.env.BENCH_WORKLOAD_SIZES ?? '10000,100000').split(',').map(Number);
const stores = (process.env.BENCH_WORKLOAD_STORES ?? 'sqlite,postgres').split(',') as BenchStore[];
const EDITED_ROWS = 1_000;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
const monitor = monitorProcess();
const mb = (bytes: number) => round(bytes / 1024 / 1024);

/** Runs one measured phase: client RSS peak (after a GC) and server RSS peak beside the time. */
async function phase<T>(server: ForkedServer | null, fn: () => Promise<T>) {
  gc();
  await server?.baseline();
  monitor.restart();
  const result = await timed(fn);
  const client = monitor.read();
  const serverPeak = server ? await server.peak() : undefined;
  return {
    ...result,
    client_peak_rss_mb: mb(client.peakRss),
    client_longest_block_ms: round(client.longestBlockMs),
    ...(serverPeak === undefined
      ? {}
      : {
          server_peak_rss_mb: serverPeak.rss_mb,
          server_longest_block_ms: serverPeak.longest_block_ms,
        }),
  };
}

interface Todo {
  readonly id: string;
  readonly listId: string;
  readonly title: string;
  readonly position: number;
}

function todos(n: number, listId: string): Todo[] {
  return Array.from({ length: n }, (_, i) => ({
    id: randomUUID(),
    listId,
    title: `todo number ${i}`,
    position: i,
  }));
}

/** Raw better-sqlite3 with the todo row shape and Ferry's pragmas: the baselines. */
function rawBaselines(rows: readonly Todo[], dir: string) {
  const open = (name: string) => {
    const db = new Database(join(dir, name));
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE todos (id TEXT NOT NULL PRIMARY KEY, owner_id TEXT NOT NULL,
      list_id TEXT NOT NULL, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, position REAL,
      updated_at TEXT)`);
    return db;
  };
  const values = (t: Todo) => [t.id, 'bench-user', t.listId, t.title, t.position];
  const sql = 'INSERT INTO todos (id, owner_id, list_id, title, position) VALUES (?, ?, ?, ?, ?)';
  const one = open(`raw-one-${rows.length}.db`);
  const insertOne = one.prepare(sql);
  let started = performance.now();
  one.transaction(() => {
    for (const t of rows) insertOne.run(values(t));
  })();
  const oneTxMs = round(performance.now() - started);
  started = performance.now();
  let read = 0;
  for (const row of one.prepare('SELECT * FROM todos').iterate()) if (row) read++;
  const selectMs = round(performance.now() - started);
  one.close();
  const each = open(`raw-each-${rows.length}.db`);
  const insertEach = each.prepare(sql);
  const single = each.transaction((t: Todo) => insertEach.run(values(t)));
  started = performance.now();
  for (const t of rows) single(t);
  const perRowMs = round(performance.now() - started);
  each.close();
  if (read !== rows.length) throw new Error(`raw select read ${read} of ${rows.length}`);
  const n = rows.length;
  return {
    oneTx: { n, wall_ms: oneTxMs, rows_per_s: perSecond(n, oneTxMs) },
    perRow: { n, wall_ms: perRowMs, rows_per_s: perSecond(n, perRowMs) },
    select: { n, wall_ms: selectMs, rows_per_s: perSecond(n, selectMs) },
  };
}

async function workloads(
  store: BenchStore,
  rows: readonly Todo[],
  listId: string,
  raw: ReturnType<typeof rawBaselines>,
  dir: string,
): Promise<void> {
  const n = rows.length;
  const server = await forkBenchServer({ store });
  const open = (
    name: string,
    options: Partial<Omit<ClientOptions<typeof todoSchema>, 'driver'>> & {
      driver?: 'worker';
    } = {},
  ) =>
    createClient({
      schema: todoSchema,
      url: server.url,
      getToken: () => server.token,
      requestTimeoutMs: 300_000,
      autoSync: false,
      ...options,
      driver: (options.driver === 'worker' ? betterSqlite3WorkerDriver : betterSqlite3Driver)(
        join(dir, `${store}-${n}-${name}.db`),
      ),
    });
  const line = (bench: string, count: number, result: Awaited<ReturnType<typeof phase>>) => ({
    bench,
    store,
    size: n,
    n: count,
    wall_ms: result.wallMs,
    rows_per_s: perSecond(count, result.wallMs),
    client_peak_rss_mb: result.client_peak_rss_mb,
    server_peak_rss_mb: result.server_peak_rss_mb,
    client_longest_block_ms: result.client_longest_block_ms,
    server_longest_block_ms: result.server_longest_block_ms,
  });
  const clients: FerryClient<typeof todoSchema>[] = [];
  try {
    const writer = await open('writer');
    clients.push(writer);
    await writer.sync(); // the empty snapshot, so the push phase is the push
    await writer.write((tx) => tx.insert('lists', { id: listId, name: 'bench' }));

    // W1: N single-row writes offline, then the push.
    const write = await phase(null, async () => {
      for (const t of rows) {
        await writer.write((tx) =>
          tx.insert('todos', { id: t.id, list_id: t.listId, title: t.title, position: t.position }),
        );
      }
    });
    const w1Write = line('w1_write', n, write);
    report({ ...w1Write, ratio: round(w1Write.rows_per_s / raw.perRow.rows_per_s) });
    const push = await phase(server, () => writer.sync());
    if (push.value.pushed !== n + 1) throw new Error(`pushed ${push.value.pushed} of ${n + 1}`);
    const w1Push = line('w1_push', n, push);
    report({ ...w1Push, ratio: round(w1Push.rows_per_s / raw.oneTx.rows_per_s) });

    // W2: a fresh client hydrates, another pulls from checkpoint 0.
    const reader = await open('hydrated');
    clients.push(reader);
    const hydrate = await phase(server, () => reader.sync());
    if (hydrate.value.pulled !== n + 1) throw new Error(`hydrated ${hydrate.value.pulled}`);
    const w2Hydrate = line('w2_hydrate', n, hydrate);
    report({
      ...w2Hydrate,
      ratio: round(w2Hydrate.rows_per_s / raw.select.rows_per_s),
      ratio_raw_insert: round(w2Hydrate.rows_per_s / raw.oneTx.rows_per_s),
    });
    const puller = await open('pulled', { initialSync: 'pull' });
    const pull = await phase(server, () => puller.sync());
    await puller.close();
    if (pull.value.pulled !== n + 1) throw new Error(`pulled ${pull.value.pulled}`);
    const w2Pull = line('w2_pull', n, pull);
    report({
      ...w2Pull,
      ratio: round(w2Pull.rows_per_s / raw.select.rows_per_s),
      ratio_raw_insert: round(w2Pull.rows_per_s / raw.oneTx.rows_per_s),
    });

    // W3: 1% updated on the writer, until the hydrated client has them.
    const changed = rows.filter((_, i) => i % 100 === 0);
    const update = await phase(server, async () => {
      await writer.write((tx) => {
        for (const t of changed) tx.update('todos', t.id, { title: `${t.title} (updated)` });
      });
      await writer.sync();
      await reader.sync();
    });
    const seen = await reader.get<{ n: number }>(
      "SELECT count(*) AS n FROM todos WHERE title LIKE '% (updated)'",
    );
    if (seen?.n !== changed.length) throw new Error(`W3: ${seen?.n} of ${changed.length} seen`);
    report(line('w3_update_1pct', changed.length, update));

    // W4: the same 1,000 rows edited on both devices, on different fields; both sync.
    const edited = rows.slice(0, EDITED_ROWS);
    await writer.write((tx) => {
      for (const t of edited) tx.update('todos', t.id, { title: `${t.title} (by writer)` });
    });
    await reader.write((tx) => {
      for (const t of edited) tx.update('todos', t.id, { position: t.position + 0.5 });
    });
    const concurrent = await phase(server, async () => {
      await writer.sync();
      await reader.sync();
      await writer.sync();
    });
    for (const client of [writer, reader]) {
      const merged = await client.get<{ n: number }>(
        "SELECT count(*) AS n FROM todos WHERE title LIKE '% (by writer)' AND position - CAST(position AS INTEGER) = 0.5",
      );
      if (merged?.n !== edited.length) throw new Error(`W4: ${merged?.n} of ${edited.length}`);
    }
    report(line('w4_concurrent_edits', edited.length, concurrent));

    // The same hydration and push with the database in a worker thread
    // (`betterSqlite3WorkerDriver`): no SQL on the client's event loop.
    const threaded = await open('worker', { driver: 'worker' });
    clients.push(threaded);
    const hydrateWorker = await phase(server, () => threaded.sync());
    if (hydrateWorker.value.pulled !== n + 1) throw new Error('worker hydration');
    const w2Worker = line('w2_hydrate_worker', n + 1, hydrateWorker);
    report({ ...w2Worker, ratio: round(w2Worker.rows_per_s / raw.select.rows_per_s) });
    const more = todos(n, listId);
    await threaded.write((tx) => {
      for (const t of more) {
        tx.insert('todos', { id: t.id, list_id: t.listId, title: t.title, position: t.position });
      }
    });
    const pushWorker = await phase(server, () => threaded.sync());
    if (pushWorker.value.pushed !== n) throw new Error('worker push');
    const w1Worker = line('w1_push_worker', n, pushWorker);
    report({ ...w1Worker, ratio: round(w1Worker.rows_per_s / raw.oneTx.rows_per_s) });
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await server.stop();
  }
}

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-workloads-'));
try {
  for (const size of sizes) {
    const listId = randomUUID();
    const rows = todos(size, listId);
    const raw = rawBaselines(rows, dir);
    report({ bench: 'raw_insert_one_tx', size, ...raw.oneTx });
    report({ bench: 'raw_insert_per_row_tx', size, ...raw.perRow });
    report({ bench: 'raw_select', size, ...raw.select });
    if (stores.includes('postgres'))
      report({ bench: 'raw_pg_insert', size, ...(await rawPgInsert(rows)) });
    for (const store of stores) await workloads(store, rows, listId, raw, dir);
  }
} finally {
  monitor.stop();
  rmSync(dir, { recursive: true, force: true });
}

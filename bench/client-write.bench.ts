/**
 * Local write overhead: 100,000 single-row `client.write` inserts, each its own transaction,
 * against the same inserts into the same tables on plain better-sqlite3 without Ferry (same
 * pragmas: WAL, synchronous NORMAL, foreign keys on; same DDL, copied from the Ferry file, minus
 * the capture triggers). Prints both and `ratio` (Ferry / plain; target at most 1.5). The client
 * runs without its scheduler; `BENCH_AUTOSYNC=1` turns it on (offline, so that no cycle runs)
 * to see what its bookkeeping adds to each write. `client_write_worker`: the same writes with the
 * database in a worker thread (`betterSqlite3WorkerDriver`).
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { betterSqlite3WorkerDriver } from '@ferry/client/better-sqlite3-worker';
import { todoSchema } from '@ferry/example-todo';
import { benchRows, perSecond, report, round, timed } from './support/report.js';

const n = benchRows();
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-write-'));
const listId = randomUUID();
const ids = Array.from({ length: n }, () => randomUUID());

try {
  const client = await createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(join(dir, 'ferry.db')),
    url: 'http://127.0.0.1:9',
    getToken: () => 'unused',
    // BENCH_AUTOSYNC=1: the scheduler follows the writes (offline, so no cycle runs).
    autoSync: process.env['BENCH_AUTOSYNC'] === '1',
    online: false,
  });
  await client.write((tx) => tx.insert('lists', { id: listId, name: 'bench' }));

  // The plain database: the very same tables and indexes, no triggers, the same pragmas.
  const plain = new Database(join(dir, 'plain.db'));
  plain.pragma('journal_mode = WAL');
  plain.pragma('synchronous = NORMAL');
  plain.pragma('busy_timeout = 5000');
  plain.pragma('foreign_keys = ON');
  const ddl = await client.query<{ sql: string }>(
    "SELECT sql FROM sqlite_master WHERE tbl_name IN ('lists', 'todos') AND type IN ('table', 'index') AND sql IS NOT NULL ORDER BY type DESC",
  );
  for (const { sql } of ddl) plain.exec(sql);
  plain.prepare('INSERT INTO lists (id, name) VALUES (?, ?)').run(listId, 'bench');
  const insert = plain.prepare(
    'INSERT INTO todos (id, owner_id, list_id, title, done, position, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const one = plain.transaction((i: number) => {
    insert.run(ids[i], null, listId, `todo ${i}`, 0, i, null);
  });

  const plainRun = await timed(async () => {
    for (let i = 0; i < n; i++) one(i);
  });
  plain.close();

  /** The measured writes: the n todos, one `client.write` each. */
  const writeAll = (target: typeof client) =>
    timed(async () => {
      for (let i = 0; i < n; i++) {
        await target.write((tx) => {
          tx.insert('todos', { id: ids[i]!, list_id: listId, title: `todo ${i}`, position: i });
        });
      }
    });
  const ferryRun = await writeAll(client);
  const status = await client.readStatus();
  if (status.pending !== n + 1) throw new Error(`expected ${n + 1} pending, got ${status.pending}`);
  await client.close();

  // The same writes with the database in a worker thread: a message round trip per write.
  const threaded = await createClient({
    schema: todoSchema,
    driver: betterSqlite3WorkerDriver(join(dir, 'ferry-worker.db')),
    url: 'http://127.0.0.1:9',
    getToken: () => 'unused',
    autoSync: false,
    online: false,
  });
  await threaded.write((tx) => tx.insert('lists', { id: listId, name: 'bench' }));
  const workerRun = await writeAll(threaded);
  await threaded.close();

  report({
    bench: 'client_write_plain_sqlite',
    n,
    wall_ms: plainRun.wallMs,
    rows_per_s: perSecond(n, plainRun.wallMs),
    us_per_write: round((plainRun.wallMs * 1000) / n),
  });
  const line = (bench: string, run: { wallMs: number }) =>
    report({
      bench,
      n,
      wall_ms: run.wallMs,
      rows_per_s: perSecond(n, run.wallMs),
      us_per_write: round((run.wallMs * 1000) / n),
      ratio: round(run.wallMs / plainRun.wallMs),
    });
  line('client_write', ferryRun);
  line('client_write_worker', workerRun);
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The library comparison, in a dedicated worker as the database runs in Ferry: the same rows
 * through wa-sqlite (Ferry's driver, on OPFS and on IndexedDB) and through the official
 * `@sqlite.org/sqlite-wasm` (its OPFS pool VFS). Posts one result per library and storage.
 */
import sqlite3InitModule from '@sqlite.org/sqlite-wasm';
import { openWaSqlite } from '../../packages/client/src/drivers/wa-sqlite.js';

interface Timings {
  readonly library: string;
  readonly insert_rows_per_s: number;
  readonly commit_ms_p50: number;
  readonly select_rows_per_s: number;
}

interface Db {
  exec(sql: string): Promise<void>;
  run(sql: string, params: unknown[]): Promise<void>;
  all(sql: string): Promise<unknown[]>;
  close(): Promise<void>;
}

const ROWS = 10_000;
const COMMITS = 300;

async function measure(library: string, db: Db): Promise<Timings> {
  await db.exec(
    'CREATE TABLE t (id TEXT PRIMARY KEY, title TEXT NOT NULL, done INTEGER NOT NULL, position REAL)',
  );
  let started = performance.now();
  await db.exec('BEGIN');
  for (let i = 0; i < ROWS; i++) {
    await db.run('INSERT INTO t VALUES (?, ?, ?, ?)', [crypto.randomUUID(), `todo ${i}`, i % 2, i]);
  }
  await db.exec('COMMIT');
  const insertMs = performance.now() - started;
  const commits: number[] = [];
  for (let i = 0; i < COMMITS; i++) {
    started = performance.now();
    await db.run('INSERT INTO t VALUES (?, ?, ?, ?)', [crypto.randomUUID(), 'one', 0, i]);
    commits.push(performance.now() - started);
  }
  commits.sort((a, b) => a - b);
  started = performance.now();
  const rows = await db.all('SELECT * FROM t');
  const selectMs = performance.now() - started;
  await db.close();
  return {
    library,
    insert_rows_per_s: Math.round((ROWS / insertMs) * 1000),
    commit_ms_p50: Math.round(commits[Math.floor(COMMITS / 2)]! * 100) / 100,
    select_rows_per_s: Math.round((rows.length / selectMs) * 1000),
  };
}

async function waSqlite(storage: 'opfs' | 'indexeddb'): Promise<Db> {
  const { driver } = await openWaSqlite({
    name: `compare-${storage}-${crypto.randomUUID()}`,
    storage,
    wasmUrls: { sync: '/wa-sqlite.wasm', async: '/wa-sqlite-async.wasm' },
  });
  return {
    exec: (sql) => driver.exec(sql),
    run: async (sql, params) => void (await driver.run(sql, params as never)),
    all: (sql) => driver.all(sql),
    close: () => driver.close(),
  };
}

async function officialSahPool(): Promise<Db> {
  const sqlite3 = await sqlite3InitModule();
  const pool = await sqlite3.installOpfsSAHPoolVfs({ name: `compare-${crypto.randomUUID()}` });
  const db = new pool.OpfsSAHPoolDb(`/compare-${crypto.randomUUID()}.db`);
  // Prepared once per SQL text, as Ferry's driver does on wa-sqlite: the same work per row.
  const statements = new Map<string, ReturnType<typeof db.prepare>>();
  const prepared = (sql: string) => {
    let statement = statements.get(sql);
    if (!statement) {
      statement = db.prepare(sql);
      statements.set(sql, statement);
    }
    return statement;
  };
  return {
    exec: async (sql) => void db.exec(sql),
    run: async (sql, params) => {
      const statement = prepared(sql);
      statement.bind(params as never).stepReset();
    },
    all: async (sql) => {
      const statement = prepared(sql);
      const rows: unknown[] = [];
      while (statement.step()) rows.push(statement.get({}));
      statement.reset();
      return rows;
    },
    close: async () => {
      for (const statement of statements.values()) statement.finalize();
      db.close();
    },
  };
}

addEventListener('message', () => {
  void (async () => {
    const results: Timings[] = [];
    results.push(await measure('wa-sqlite OPFSCoopSyncVFS (Ferry driver)', await waSqlite('opfs')));
    results.push(
      await measure('wa-sqlite IDBBatchAtomicVFS (Ferry driver)', await waSqlite('indexeddb')),
    );
    results.push(await measure('@sqlite.org/sqlite-wasm opfs-sahpool', await officialSahPool()));
    postMessage(results);
  })().catch((error: unknown) => postMessage({ error: String(error) }));
});

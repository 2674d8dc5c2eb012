/**
 * Raw baselines of the todo row shape, run in the same process as the Ferry line they sit
 * beside: plain better-sqlite3 (WAL, synchronous NORMAL) and plain PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import { benchDatabaseUrl } from './pg.js';
import { perSecond, round } from './report.js';

/** A todo as the baselines insert it. */
export interface RawTodo {
  readonly id: string;
  readonly listId: string;
  readonly title: string;
  readonly position: number;
}

/** What a baseline measured. */
export interface RawResult {
  readonly n: number;
  readonly wall_ms: number;
  readonly rows_per_s: number;
}

/**
 * Raw better-sqlite3: the rows inserted into a fresh file at `dir`, `perTx` rows per transaction
 * (all of them in one by default).
 */
export function rawSqliteInsert(
  rows: readonly RawTodo[],
  dir: string,
  perTx: number = rows.length,
): RawResult {
  const db = new Database(join(dir, `raw-${randomUUID()}.db`));
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.exec(`CREATE TABLE todos (id TEXT NOT NULL PRIMARY KEY, owner_id TEXT NOT NULL,
      list_id TEXT NOT NULL, title TEXT NOT NULL, done INTEGER NOT NULL DEFAULT 0, position REAL,
      updated_at TEXT)`);
    const insert = db.prepare(
      'INSERT INTO todos (id, owner_id, list_id, title, position) VALUES (?, ?, ?, ?, ?)',
    );
    const batch = db.transaction((from: number) => {
      for (const t of rows.slice(from, from + perTx)) {
        insert.run(t.id, 'bench-user', t.listId, t.title, t.position);
      }
    });
    const started = performance.now();
    for (let from = 0; from < rows.length; from += Math.max(1, perTx)) batch(from);
    const wallMs = round(performance.now() - started);
    return { n: rows.length, wall_ms: wallMs, rows_per_s: perSecond(rows.length, wallMs) };
  } finally {
    db.close();
  }
}

/** Raw PostgreSQL: multi-row INSERTs (1,000 rows each) of the same rows in one transaction. */
export async function rawPgInsert(rows: readonly RawTodo[]): Promise<RawResult> {
  const client = new pg.Client({ connectionString: benchDatabaseUrl() });
  await client.connect();
  const table = `bench_raw_${randomUUID().replaceAll('-', '').slice(0, 10)}`;
  try {
    await client.query(`CREATE TABLE ${table} (id uuid PRIMARY KEY, owner_id text NOT NULL,
      list_id uuid NOT NULL, title text NOT NULL, done boolean NOT NULL DEFAULT false,
      position double precision, updated_at timestamptz)`);
    const started = performance.now();
    await client.query('BEGIN');
    for (let start = 0; start < rows.length; start += 1_000) {
      const chunk = rows.slice(start, start + 1_000);
      await client.query(
        `INSERT INTO ${table} (id, owner_id, list_id, title, position)
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[], $4::text[], $5::float8[])`,
        [
          chunk.map((t) => t.id),
          chunk.map(() => 'bench-user'),
          chunk.map((t) => t.listId),
          chunk.map((t) => t.title),
          chunk.map((t) => t.position),
        ],
      );
    }
    await client.query('COMMIT');
    const wallMs = round(performance.now() - started);
    return { n: rows.length, wall_ms: wallMs, rows_per_s: perSecond(rows.length, wallMs) };
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}

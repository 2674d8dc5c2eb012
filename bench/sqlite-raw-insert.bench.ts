/**
 * Reference: raw better-sqlite3 inserts of the todo row shape, 1,000 per transaction, WAL. The
 * server's push bench is measured against this.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { benchRows, perSecond, report, timed } from './support/report.js';

const rows = benchRows();
const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-raw-'));
const db = new Database(join(dir, 'raw.db'));
try {
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(`CREATE TABLE todos (id TEXT NOT NULL PRIMARY KEY, owner_id TEXT NOT NULL, list_id TEXT NOT NULL,
    title TEXT NOT NULL, done INTEGER NOT NULL, position REAL, updated_at TEXT)`);
  const insert = db.prepare('INSERT INTO todos VALUES (?, ?, ?, ?, ?, ?, ?)');
  const listId = randomUUID();
  const now = new Date().toISOString();
  const values = Array.from({ length: rows }, (_, i) => [
    randomUUID(),
    'bench-user',
    listId,
    `todo number ${i}`,
    i % 3 === 0 ? 1 : 0,
    i,
    now,
  ]);
  const batch = db.transaction((start: number) => {
    for (let i = start; i < Math.min(rows, start + 1_000); i++) insert.run(values[i]);
  });
  const { wallMs } = await timed(async () => {
    for (let start = 0; start < rows; start += 1_000) batch(start);
  });
  report({
    bench: 'sqlite_raw_insert',
    n: rows,
    wall_ms: wallMs,
    rows_per_s: perSecond(rows, wallMs),
  });
} finally {
  db.close();
  rmSync(dir, { recursive: true, force: true });
}

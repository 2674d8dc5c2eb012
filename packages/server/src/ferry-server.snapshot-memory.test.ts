import { fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { signToken } from './auth.js';
import { createSqliteStore } from './store/sqlite/sqlite-store.js';
import { TEST_SECRET, tempDir } from './test-support/harness.js';

const ROWS = Number(process.env.FERRY_SNAPSHOT_ROWS ?? 100_000);
const MAX_GROWTH_MB = 100;

/** Writes `rows` todos of one list for `userId` straight into a store file, as if synced. */
async function seed(path: string, userId: string, rows: number) {
  const store = createSqliteStore({ path });
  await store.open(todoSchema);
  await store.close();
  const db = new Database(path);
  db.pragma('foreign_keys = ON');
  const listId = randomUUID();
  const now = new Date().toISOString();
  const insertTodo = db.prepare(
    'INSERT INTO todos (id, owner_id, list_id, title, done, position, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
  );
  const rowState = db.prepare(
    'INSERT INTO ferry_rows (table_name, pk, owner, row_version, deleted) VALUES (?, ?, ?, 1, 0)',
  );
  db.transaction(() => {
    db.prepare('INSERT INTO lists (id, owner_id, name, updated_at) VALUES (?, ?, ?, ?)').run(
      listId,
      userId,
      'big',
      now,
    );
    rowState.run('lists', listId, userId);
    for (let i = 0; i < rows; i++) {
      const id = randomUUID();
      insertTodo.run(
        id,
        userId,
        listId,
        `todo number ${i} with a title of some length`,
        i % 2,
        i,
        now,
      );
      rowState.run('todos', id, userId);
    }
    db.exec('DELETE FROM ferry_capture');
    db.prepare('INSERT INTO ferry_users (user_id, last_seq) VALUES (?, 1)').run(userId);
  })();
  db.close();
}

function request<T>(child: ReturnType<typeof fork>, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message);
  });
}

describe('snapshot memory', () => {
  it(`streams a snapshot of ${ROWS} rows with server RSS growth under ${MAX_GROWTH_MB} MB`, async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    await seed(path, 'alice', ROWS);
    const script = fileURLToPath(
      new URL('./test-support/snapshot-server-process.ts', import.meta.url),
    );
    const child = fork(script, [path], {
      execArgv: ['--import', 'tsx', '--conditions=@ferry/source', '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    try {
      const { url } = await new Promise<{ url: string }>((resolve) =>
        child.once('message', (m) => resolve(m as { url: string })),
      );
      const token = await signToken({ secret: TEST_SECRET, userId: 'alice' });
      const read = async (user: string) => {
        const response = await fetch(`${url}/v1/snapshot`, {
          headers: {
            authorization: `Bearer ${user === 'alice' ? token : await signToken({ secret: TEST_SECRET, userId: user })}`,
          },
        });
        expect(response.status).toBe(200);
        const decoder = new TextDecoder();
        let lines = 0;
        let tail = '';
        const reader = response.body!.getReader();
        for (;;) {
          const { done, value: chunk } = await reader.read();
          if (done) break;
          const parts = (tail + decoder.decode(chunk, { stream: true })).split('\n');
          tail = parts.pop()!;
          lines += parts.length;
          if (parts.length > 0) lastLine = parts.at(-1)!;
        }
        return lines;
      };
      let lastLine = '';
      await read('warm-up-user');
      const baseline = await request<{ rss: number }>(child, 'baseline');
      const lines = await read('alice');
      const peak = await request<{ rss: number }>(child, 'peak');
      expect(lines).toBe(ROWS + 1 + 2);
      expect(JSON.parse(lastLine)).toEqual({ end: true, rowCount: ROWS + 1 });
      const growthMb = (peak.rss - baseline.rss) / 1024 / 1024;
      console.log(
        `snapshot of ${ROWS + 1} rows: server RSS ${Math.round(baseline.rss / 1048576)} MB → peak ${Math.round(peak.rss / 1048576)} MB (growth ${growthMb.toFixed(1)} MB)`,
      );
      expect(growthMb).toBeLessThan(MAX_GROWTH_MB);
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      const timer = setTimeout(() => child.kill(), 5_000);
      await exited;
      clearTimeout(timer);
      cleanup();
    }
  }, 120_000);
});

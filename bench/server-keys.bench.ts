/**
 * Keys the server assigns, over HTTP on loopback (embedded store): one client writes N parents
 * and 2 N children offline and syncs them in one bundle, once on tables whose keys are the
 * client's (uuids) and once on tables whose keys the server assigns (an integer sequence), with
 * the children referencing their parent by its temporary key.
 * - `server_keys_sync` / `client_keys_sync`: the whole sync (push, assignment, answer, remap,
 *   acknowledgement); `ratio` is the first over the second.
 * - `server_keys_remap`: the client's remap of the answer alone (the row, the children, the
 *   bundle in flight and the key map, in the transaction that records the answer: from the
 *   answer read to `during-key-remap`), beside `raw_remap`: plain SQLite moving the same parents
 *   and children to new keys with a staged map in one transaction (better-sqlite3, no Ferry).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { defineSchema } from '@ferry/protocol';
import { createFerryServer, createSqliteStore, signToken } from '@ferry/server';
import { benchRows, perSecond, report, round, timed } from './support/report.js';

const SECRET = 'bench-server-keys-secret-of-32-bytes!!';
const n = benchRows(3_000);
const schema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      keys: 'server',
      columns: { id: { type: 'integer' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    tasks: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        project_id: { type: 'integer', references: { table: 'projects', onDelete: 'cascade' } },
        title: { type: 'text' },
      },
    },
    folders: {
      owner: 'owner_id',
      columns: { id: { type: 'uuid' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    files: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        folder_id: { type: 'uuid', references: { table: 'folders', onDelete: 'cascade' } },
        title: { type: 'text' },
      },
    },
  },
});

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-keys-'));
const server = await createFerryServer({
  schema,
  store: createSqliteStore({ path: join(dir, 'server.db') }),
  auth: { jwtSecret: SECRET },
  logger: false,
  limits: { rateLimit: false },
});
const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
const token = await signToken({ secret: SECRET, userId: 'bench' });

let answerAt = 0;
let remapMs = 0;
const open = (name: string): Promise<FerryClient<typeof schema>> =>
  createClient({
    schema,
    driver: betterSqlite3Driver(join(dir, `${name}.db`)),
    url,
    getToken: () => token,
    autoSync: false,
    hooks: {
      at(point) {
        if (point === 'after-response-before-local-ack') answerAt = performance.now();
        if (point === 'during-key-remap') remapMs = performance.now() - answerAt;
      },
    },
  });

try {
  // Client keys: parents and children under uuids.
  const plain = await open('client-keys');
  await plain.sync();
  await plain.write((tx) => {
    for (let i = 0; i < n; i++) {
      const folder = crypto.randomUUID();
      tx.insert('folders', { id: folder, name: `folder ${i}` });
      for (const k of [1, 2]) {
        tx.insert('files', { id: crypto.randomUUID(), folder_id: folder, title: `file ${i}.${k}` });
      }
    }
  });
  const clientKeys = await timed(() => plain.sync());

  // Server keys: parents under temporary keys, children referencing them.
  const keyed = await open('server-keys');
  await keyed.sync();
  await keyed.write((tx) => {
    for (let i = 0; i < n; i++) {
      const project = tx.insert('projects', { name: `project ${i}` });
      for (const k of [1, 2]) {
        tx.insert('tasks', {
          id: crypto.randomUUID(),
          project_id: project as number,
          title: `task ${i}.${k}`,
        });
      }
    }
  });
  const serverKeys = await timed(() => keyed.sync());
  const [left] = await keyed.query<{ n: number }>(
    'SELECT count(*) AS n FROM projects WHERE id < 0',
  );
  if (left!.n !== 0) throw new Error(`${left!.n} projects kept a temporary key`);
  const rows = 3 * n;

  // Raw: plain SQLite moves the same rows to new keys through a staged map.
  const raw = new Database(join(dir, 'raw.db'));
  raw.pragma('journal_mode = WAL');
  raw.exec(`CREATE TABLE projects (id INTEGER PRIMARY KEY, name TEXT);
CREATE TABLE tasks (id TEXT PRIMARY KEY, project_id INTEGER REFERENCES projects (id) DEFERRABLE INITIALLY DEFERRED, title TEXT);
CREATE INDEX tasks_project ON tasks (project_id);`);
  raw.transaction(() => {
    const project = raw.prepare('INSERT INTO projects (id, name) VALUES (?, ?)');
    const task = raw.prepare('INSERT INTO tasks (id, project_id, title) VALUES (?, ?, ?)');
    for (let i = 1; i <= n; i++) {
      project.run(-i, `project ${i}`);
      for (const k of [1, 2]) task.run(crypto.randomUUID(), -i, `task ${i}.${k}`);
    }
  })();
  const rawRemap = await timed(async () => {
    raw.transaction(() => {
      raw.exec('CREATE TEMP TABLE map (temp INTEGER PRIMARY KEY, pk INTEGER NOT NULL)');
      const stage = raw.prepare('INSERT INTO map (temp, pk) VALUES (?, ?)');
      for (let i = 1; i <= n; i++) stage.run(-i, i);
      raw.exec(`UPDATE projects SET id = (SELECT pk FROM map WHERE temp = projects.id)
  WHERE id IN (SELECT temp FROM map);
UPDATE tasks SET project_id = (SELECT pk FROM map WHERE temp = tasks.project_id)
  WHERE project_id IN (SELECT temp FROM map);`);
    })();
  });
  raw.close();

  report({
    bench: 'client_keys_sync',
    n: rows,
    wall_ms: clientKeys.wallMs,
    rows_per_s: perSecond(rows, clientKeys.wallMs),
  });
  report({
    bench: 'server_keys_sync',
    n: rows,
    wall_ms: serverKeys.wallMs,
    rows_per_s: perSecond(rows, serverKeys.wallMs),
    ratio: round(serverKeys.wallMs / clientKeys.wallMs),
  });
  report({
    bench: 'server_keys_remap',
    n: rows,
    wall_ms: round(remapMs),
    rows_per_s: perSecond(rows, remapMs),
  });
  report({
    bench: 'raw_remap',
    n: rows,
    wall_ms: rawRemap.wallMs,
    rows_per_s: perSecond(rows, rawRemap.wallMs),
    ratio: round(remapMs / rawRemap.wallMs),
  });
  await plain.close();
  await keyed.close();
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

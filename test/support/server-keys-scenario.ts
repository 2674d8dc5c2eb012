/**
 * Server-assigned keys end to end over HTTP: rows inserted under temporary keys, referenced at
 * once by other rows, take the server's keys in one local transaction when their push commits.
 * Run on both stores (test/e2e/server-keys.test.ts, test/e2e-pg/server-keys.pg.test.ts).
 */
import { expect } from 'vitest';
import type { PrimaryKey } from '@ferry/protocol';
import type { FerryClient, HookPoint } from '@ferry/client';
import type { ServerHooks } from '@ferry/server';
import { rowsOf, serverRows, type Harness } from './ferry-harness.js';

export { projectSchema, type ProjectSchema } from './project-schema.js';
import type { ProjectSchema } from './project-schema.js';

type Client = FerryClient<ProjectSchema>;

/** Each device's rows and the server's agree; every key is a server key. */
async function expectSameRows(h: Harness<ProjectSchema>, userId: string, clients: Client[]) {
  for (const table of ['projects', 'tasks', 'notes']) {
    const server = await serverRows(h, userId, table);
    for (const client of clients) {
      expect(await rowsOf(client, table)).toEqual(
        [...server].sort((a, b) => compareKeys(a['id'], b['id'])),
      );
    }
  }
  for (const project of await serverRows(h, userId, 'projects')) {
    expect(project['id']).toBeGreaterThan(0);
  }
}

function compareKeys(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
}

/**
 * A device offline creates a project, tasks in it and a note on a task, all under temporary
 * keys; a live query shows them. After one sync every row has its server key, references
 * followed, the live query shows the final keys, a write naming a temporary key still reaches
 * its row, and another device gets the same rows.
 */
export async function offlineTreeTakesServerKeys(h: Harness<ProjectSchema>): Promise<void> {
  const a = await h.client('a');
  const b = await h.client('b');
  const seen: PrimaryKey[][] = [];
  const stop = a.watch<{ id: number; project_id: number }>(
    'SELECT t.project_id AS project_id, p.id AS id FROM tasks t JOIN projects p ON p.id = t.project_id ORDER BY t.title',
    [],
    (rows) => seen.push(rows.map((r) => r.project_id)),
  );
  let project: PrimaryKey = 0;
  let task: PrimaryKey = '';
  await a.write((tx) => {
    project = tx.insert('projects', { name: 'garden' });
    task = tx.insert('tasks', { project_id: project as number, title: 'dig' });
    tx.insert('tasks', { project_id: project as number, title: 'plant' });
    tx.insert('notes', { id: crypto.randomUUID(), task_id: task as string, body: 'deep' });
  });
  expect(project).toBeLessThan(0);
  expect(typeof task).toBe('string');
  await a.sync();

  const real = await a.resolveKey('projects', project);
  const realTask = await a.resolveKey('tasks', task);
  expect(real).toBeGreaterThan(0);
  expect(realTask).not.toBe(task);
  expect(await a.query('SELECT id FROM projects')).toEqual([{ id: real }]);
  expect(await a.query('SELECT DISTINCT project_id FROM tasks')).toEqual([{ project_id: real }]);
  expect(await a.query('SELECT task_id FROM notes')).toEqual([{ task_id: realTask }]);
  // Nothing is left to push, and nothing names a temporary key.
  expect((await a.readStatus()).pending).toBe(0);
  await expect.poll(() => seen.at(-1)).toEqual([real, real]);
  stop();

  // The app still holding the temporary key writes through it.
  await a.write((tx) => tx.update('projects', project, { name: 'garden 2' }));
  await a.sync();
  await b.sync();
  await expectSameRows(h, 'alice', [a, b]);
  expect((await serverRows(h, 'alice', 'projects'))[0]!['name']).toBe('garden 2');
}

/**
 * While the push of a new project is in flight (the server committed it, its answer not yet
 * read), the app renames the project and adds a task to it, by its temporary key. The answer
 * moves those edits to the server key; the next push carries them with it.
 */
export async function editsInFlightFollowTheKey(h: Harness<ProjectSchema>): Promise<void> {
  let during: (() => Promise<unknown>) | undefined;
  const a: Client = await h.client('a', 'alice', {
    hooks: {
      async at(point: HookPoint) {
        if (point !== 'after-server-commit-before-response' || !during) return;
        const run = during;
        during = undefined;
        await run();
      },
    },
  });
  let project: PrimaryKey = 0;
  await a.write((tx) => {
    project = tx.insert('projects', { name: 'house' });
  });
  during = () =>
    a.write((tx) => {
      tx.update('projects', project, { name: 'house, renamed' });
      tx.insert('tasks', { project_id: project as number, title: 'paint' });
    });
  await a.sync();
  expect(during).toBeUndefined();
  const real = await a.resolveKey('projects', project);
  expect(real).toBeGreaterThan(0);
  expect(await a.query('SELECT project_id FROM tasks')).toEqual([{ project_id: real }]);
  await a.sync();
  expect((await a.readStatus()).pending).toBe(0);
  const server = await serverRows(h, 'alice', 'projects');
  expect(server).toEqual([expect.objectContaining({ id: real, name: 'house, renamed' })]);
  expect(await serverRows(h, 'alice', 'tasks')).toEqual([
    expect.objectContaining({ project_id: real, title: 'paint' }),
  ]);
  await expectSameRows(h, 'alice', [a]);
}

/**
 * The answer of a push that inserted rows under temporary keys is lost (the cycle fails after the
 * server committed): the bundle goes again exactly as it was pushed, the replay's answer gives
 * the same keys, and no row is inserted twice.
 */
export async function lostAnswerGivesTheSameKeys(h: Harness<ProjectSchema>): Promise<void> {
  let fail = true;
  const a: Client = await h.client('a', 'alice', {
    hooks: {
      at(point: HookPoint) {
        if (point === 'after-response-before-local-ack' && fail) {
          fail = false;
          throw new Error('the answer is lost');
        }
      },
    },
  });
  await a.write((tx) => {
    const p = tx.insert('projects', { name: 'boat' });
    tx.insert('tasks', { project_id: p as number, title: 'sand' });
  });
  await a.sync().catch(() => undefined);
  expect(fail).toBe(false);
  expect((await a.query<{ id: number }>('SELECT id FROM projects'))[0]!.id).toBeLessThan(0);
  await a.sync();
  expect(await serverRows(h, 'alice', 'projects')).toHaveLength(1);
  expect(await serverRows(h, 'alice', 'tasks')).toHaveLength(1);
  await expectSameRows(h, 'alice', [a]);
}

/**
 * Two devices of one user and a device of another create rows offline; every row gets its own
 * server key, nothing collides, and each user's devices end with the same rows.
 */
export async function offlineDevicesNeverCollide(h: Harness<ProjectSchema>): Promise<void> {
  const a = await h.client('a');
  const b = await h.client('b');
  const c = await h.client('c', 'carol');
  for (const client of [a, b, c]) await client.sync();
  for (const [client, name] of [
    [a, 'a'],
    [b, 'b'],
    [c, 'c'],
  ] as const) {
    for (let i = 0; i < 3; i++) {
      await client.write((tx) => {
        const p = tx.insert('projects', { name: `${name}${i}` });
        tx.insert('tasks', { project_id: p as number, title: `${name}${i} task` });
      });
    }
  }
  await Promise.all([a.sync(), b.sync(), c.sync()]);
  await a.sync();
  await b.sync();
  const alice = await serverRows(h, 'alice', 'projects');
  const carol = await serverRows(h, 'carol', 'projects');
  expect(alice).toHaveLength(6);
  expect(carol).toHaveLength(3);
  const ids = new Set([...alice, ...carol].map((p) => p['id']));
  expect(ids.size).toBe(9);
  for (const task of await serverRows(h, 'alice', 'tasks')) {
    const project = alice.find((p) => p['id'] === task['project_id']);
    expect(project?.['name']).toBe(String(task['title']).replace(' task', ''));
  }
  await expectSameRows(h, 'alice', [a, b]);
  await expectSameRows(h, 'carol', [c]);
}

/**
 * A new row of an integer server-keyed table named by a positive key: refused at the local
 * write, and by the server (422 `temporary_key`) from a client that does not check.
 */
export async function positiveTemporaryKeyIsRefused(h: Harness<ProjectSchema>): Promise<void> {
  const a = await h.client('a');
  await expect(a.execute("INSERT INTO projects (id, name) VALUES (5, 'x')")).rejects.toThrow(
    /temporary_key/,
  );
  const temp = a.temporaryKey('projects');
  await a.execute('INSERT INTO projects (id, name) VALUES (?, ?)', [temp, 'by SQL']);
  await a.sync();
  expect(
    await a.query('SELECT name FROM projects WHERE id = ?', [await a.resolveKey('projects', temp)]),
  ).toEqual([{ name: 'by SQL' }]);

  const response = await fetch(`${h.url}/v1/push`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await h.token('alice')}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      protocol: 1,
      sourceId: crypto.randomUUID(),
      sourceBundleId: 1,
      changes: [
        { table: 'projects', pk: 5, op: 'upsert', baseVersion: null, row: { id: 5, name: 'x' } },
      ],
    }),
  });
  expect(response.status).toBe(422);
  expect(await response.json()).toMatchObject({
    error: {
      code: 'validation_failed',
      details: { errors: [{ index: 0, pk: 5, code: 'temporary_key' }] },
    },
  });
}

/** Server rules of {@link deadLettersKeepTemporaryKeys}: a project needs a name. */
export const projectHooks: ServerHooks<ProjectSchema> = {
  tables: {
    projects: {
      validate: (change) =>
        change.op === 'upsert' && String(change.row?.name ?? '').trim() === ''
          ? { refuse: { code: 'name_blank', message: 'a project needs a name' } }
          : undefined,
    },
  },
};

/**
 * The server's rules refuse a new project (a blank name) pushed with a task in it and another
 * project: the refused project is a dead letter under its temporary key, its task waits with it,
 * the other project commits and takes its key. Named again and retried, the project commits,
 * takes its key, and its task follows it.
 */
export async function deadLettersKeepTemporaryKeys(h: Harness<ProjectSchema>): Promise<void> {
  const a = await h.client('a');
  let blank: PrimaryKey = 0;
  let good: PrimaryKey = 0;
  await a.write((tx) => {
    blank = tx.insert('projects', { name: ' ' });
    tx.insert('tasks', { project_id: blank as number, title: 'waits' });
    good = tx.insert('projects', { name: 'fine' });
  });
  await a.sync();
  const letters = await a.deadLetters();
  expect(letters).toEqual([
    expect.objectContaining({ table: 'projects', pk: blank, code: 'name_blank' }),
  ]);
  expect(await a.resolveKey('projects', good)).toBeGreaterThan(0);
  expect(await serverRows(h, 'alice', 'projects')).toHaveLength(1);
  expect(await serverRows(h, 'alice', 'tasks')).toHaveLength(0);

  await a.write((tx) => tx.update('projects', blank, { name: 'named now' }));
  await a.retryDeadLetter(letters[0]!.id);
  await a.sync();
  await a.sync();
  const real = await a.resolveKey('projects', blank);
  expect(real).toBeGreaterThan(0);
  expect(await a.deadLetters()).toEqual([]);
  expect(await serverRows(h, 'alice', 'tasks')).toEqual([
    expect.objectContaining({ project_id: real, title: 'waits' }),
  ]);
  await expectSameRows(h, 'alice', [a]);
}

/**
 * A file copied with a project its twin then pushes, where the copy deleted the project before
 * it synced (its insert folded away): when the twin's bundle reaches the copy, the copy knows the
 * row by the temporary key it journaled, and its delete goes out. The copy that kept an identical
 * bundle in flight gets the twin's answer as a replay: the same key, no second row.
 */
export async function copiedFilesFollowTheirTwin(
  h: Harness<ProjectSchema>,
  copy: (from: string, to: string) => void,
): Promise<void> {
  let a = await h.client('a');
  await a.sync();
  let project: PrimaryKey = 0;
  await a.write((tx) => {
    project = tx.insert('projects', { name: 'copied' });
  });
  await a.close();
  copy(h.dbPath('a'), h.dbPath('b'));
  copy(h.dbPath('a'), h.dbPath('c'));
  a = await h.client('a');
  const b = await h.client('b');
  const c = await h.client('c');
  // b undoes the insert before anything went out; c keeps it as it is.
  await b.write((tx) => tx.delete('projects', project));
  await a.sync();
  const real = await a.resolveKey('projects', project);
  expect(real).toBeGreaterThan(0);
  await c.sync();
  expect(await c.resolveKey('projects', project)).toBe(real);
  await b.sync();
  await b.sync();
  await a.sync();
  await c.sync();
  // b's delete of the row went out: the copies agree it is gone, and no second row was made.
  expect(await serverRows(h, 'alice', 'projects')).toEqual([]);
  await expectSameRows(h, 'alice', [a, b, c]);
}

/**
 * Server rules of {@link backendInsertsShareTheSequence}: a pushed task titled "log me" makes
 * `beforeCommit` insert a project of its own, keyed by the server, in the push's transaction.
 */
export const loggingHooks: ServerHooks<ProjectSchema> = {
  async beforeCommit(tx, bundle) {
    for (const change of bundle.changes) {
      if (change.table === 'tasks' && change.op === 'upsert' && change.row?.title === 'log me') {
        await tx.insert('projects', { name: 'log' });
      }
    }
  },
};

/**
 * Backend code inserts rows whose keys the server assigns (`server.write`'s `tx.insert`, and the
 * `tx` of `beforeCommit`): they take keys from the same sequence as devices' inserts, so the two
 * never meet, whichever comes first; an upsert under a key the server gave replaces the row;
 * devices pull the rows under their keys. A backend row under a negative (temporary) key, an
 * insert over a row that exists and an insert without a key on a table whose keys the client
 * chooses are refused, and nothing of their transaction commits.
 */
export async function backendInsertsShareTheSequence(h: Harness<ProjectSchema>): Promise<void> {
  const a = await h.client('a');
  let first: PrimaryKey = 0;
  await a.write((tx) => {
    first = tx.insert('projects', { name: 'from a' });
  });
  await a.sync();
  const deviceKey = (await a.resolveKey('projects', first)) as number;

  const { value: backend } = await h.server.write('alice', async (tx) => {
    const project = (await tx.insert('projects', { name: 'from backend' })) as number;
    const task = await tx.insert('tasks', { project_id: project, title: 'backend task' });
    await tx.upsert('projects', { id: project, name: 'from backend, renamed' });
    return { project, task };
  });
  expect(backend.project).toBeGreaterThan(deviceKey);
  expect(backend.task).toMatch(/^[0-9a-f-]{36}$/);

  await expect(
    h.server.write('alice', async (tx) => {
      await tx.insert('projects', { name: 'rolled back' });
      await tx.insert('projects', { id: backend.project, name: 'again' });
    }),
  ).rejects.toMatchObject({ code: 'conflict' });
  await expect(
    h.server.write('alice', (tx) => tx.upsert('projects', { id: -7, name: 'temporary' })),
  ).rejects.toMatchObject({
    code: 'validation_failed',
    details: { errors: [expect.objectContaining({ code: 'temporary_key' })] },
  });
  await expect(
    h.server.write('alice', (tx) => tx.insert('notes', { body: 'no key' })),
  ).rejects.toMatchObject({ code: 'validation_failed' });

  // A device's next insert, and a backend insert in a push's transaction, come after.
  await a.write((tx) => {
    const project = tx.insert('projects', { name: 'again from a' });
    tx.insert('tasks', { project_id: project as number, title: 'log me' });
  });
  await a.sync();
  await a.sync();
  const projects = await serverRows(h, 'alice', 'projects');
  expect(projects.map((p) => [p['id'], p['name']])).toEqual([
    [deviceKey, 'from a'],
    [backend.project, 'from backend, renamed'],
    [expect.any(Number), 'again from a'],
    [expect.any(Number), 'log'],
  ]);
  const keys = projects.map((p) => p['id'] as number);
  expect(new Set(keys).size).toBe(4);
  expect(keys[2]).toBeGreaterThan(backend.project);
  expect(keys[3]).toBeGreaterThan(backend.project);
  const b = await h.client('b');
  await b.sync();
  await expectSameRows(h, 'alice', [a, b]);
}

/**
 * A client in its own process for the crash tests: runs a scenario and SIGKILLs itself the
 * FERRY_KILL_AFTER-th time (default 1) it reaches the hook point named by FERRY_KILL_AT.
 * test/crash/child-process.ts bundles it and runs it with plain `node`.
 *
 * Environment: FERRY_DB (file), FERRY_URL, FERRY_TOKEN, FERRY_KILL_AT (a hook point),
 * FERRY_KILL_AFTER, FERRY_SCENARIO, and per scenario:
 * - `write`, `write-sync`, `sync`, `pull-first`: one write of FERRY_IDS (JSON `{list, todo}`),
 *   then (but for `write`) one sync;
 * - `upgrade`: opens a file of the example's version 1 as version 3 (with the history), which
 *   migrates it, and closes it (kill it at `during-local-migration`);
 * - `workload`: a seeded run (FERRY_SEED) of writes, syncs, pulls and hydrations, with a peer
 *   device (FERRY_PEER_DB, same user, not killed) that writes and pushes so that there is
 *   something to pull. Every local write is announced on stdout before it runs
 *   (`{"begin":…}`) and once it resolved (`{"ack":…}`), synchronously, so the parent knows
 *   exactly what was acknowledged when the process died;
 * - `server-keys`: on the project schema (keys the server assigns), one write per name of
 *   FERRY_IDS (JSON `{names}`): a project, two tasks in it and a note on the first, all under
 *   temporary keys; a sync; a rename of each project by the temporary key the app kept; a sync.
 *   `{"ack":"trees"}` and `{"ack":"edits"}` say which writes resolved.
 */
import { writeSync } from 'node:fs';
import { createClient, type FerryClient, type HookPoint } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema, todoV2, todoV3, type TodoSchema } from '@ferry/example-todo';
import { schemaHistory, type PrimaryKey } from '@ferry/protocol';
import { projectSchema } from '../support/project-schema.js';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const killAt = process.env['FERRY_KILL_AT'] as HookPoint | undefined;
const killAfter = Number(process.env['FERRY_KILL_AFTER'] ?? 1);
const scenario = env('FERRY_SCENARIO');
const reached = new Map<HookPoint, number>();

/** One line on stdout, written synchronously (it must be out before a SIGKILL). */
function say(value: unknown): void {
  writeSync(1, `${typeof value === 'string' ? value : JSON.stringify(value)}\n`);
}

const upgrade = scenario === 'upgrade';
const hooks = {
  at(point: HookPoint) {
    const count = (reached.get(point) ?? 0) + 1;
    reached.set(point, count);
    if (point === killAt && count === killAfter) {
      say(`killed at ${point} #${count}`);
      process.kill(process.pid, 'SIGKILL');
    }
  },
};
if (scenario === 'server-keys') {
  await runServerKeys();
  say('finished');
  process.exit(0);
}
const client = await createClient({
  schema: upgrade ? todoV3 : todoSchema,
  ...(upgrade
    ? { history: schemaHistory(todoSchema, todoV2, todoV3), resolvers: { todos: 'manual' } }
    : {}),
  driver: betterSqlite3Driver(env('FERRY_DB')),
  url: env('FERRY_URL'),
  getToken: () => env('FERRY_TOKEN'),
  initialSync: scenario === 'pull-first' ? 'pull' : 'hydrate',
  autoSync: false,
  hooks,
});

if (scenario === 'workload') {
  await runWorkload(client);
} else if (upgrade) {
  // Opening migrated the file; nothing else to do.
} else {
  const ids = JSON.parse(process.env['FERRY_IDS'] ?? '{}') as { list?: string; todo?: string };
  if (scenario === 'write' || scenario === 'write-sync' || scenario === 'pull-first') {
    await client.write((tx) => {
      tx.insert('lists', { id: ids.list!, name: 'written by the child' });
      tx.insert('todos', { id: ids.todo!, list_id: ids.list!, title: 'child todo' });
    });
  }
  if (scenario !== 'write') await client.sync();
}
await client.close();
say('finished');

/** A write as the parent models it. */
type Write =
  | { op: 'insert-list'; id: string; name: string }
  | { op: 'insert-todo'; id: string; list: string; title: string }
  | { op: 'update-list'; id: string; name: string }
  | { op: 'update-todo'; id: string; title: string; done: boolean }
  | { op: 'delete-todo'; id: string }
  | { op: 'delete-list'; id: string };

async function runWorkload(main: FerryClient<TodoSchema>): Promise<void> {
  let state = Number(env('FERRY_SEED')) >>> 0;
  const random = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  let counter = 0;
  const uuid = () => {
    const hex = (n: number) =>
      Math.floor(random() * 16 ** n)
        .toString(16)
        .padStart(n, '0');
    return `${hex(8)}-${hex(4)}-4${hex(3)}-a${hex(3)}-${hex(12)}`;
  };
  const peer = await createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(env('FERRY_PEER_DB')),
    url: env('FERRY_URL'),
    getToken: () => env('FERRY_TOKEN'),
    autoSync: false,
  });
  const lists: string[] = [];
  const todos = new Map<string, string>();
  const peerLists: string[] = [];

  const write = async (w: Write) => {
    say({ begin: w });
    await main.write((tx) => {
      switch (w.op) {
        case 'insert-list':
          tx.insert('lists', { id: w.id, name: w.name });
          break;
        case 'insert-todo':
          tx.insert('todos', { id: w.id, list_id: w.list, title: w.title });
          break;
        case 'update-list':
          tx.update('lists', w.id, { name: w.name });
          break;
        case 'update-todo':
          tx.update('todos', w.id, { title: w.title, done: w.done });
          break;
        case 'delete-todo':
          tx.delete('todos', w.id);
          break;
        case 'delete-list':
          tx.delete('lists', w.id);
          break;
      }
    });
    say({ ack: w });
  };

  for (let i = 0; i < 400; i++) {
    const roll = random();
    const name = () => `v${counter++}`;
    if (roll < 0.4) {
      // A local write of the main device, on rows it made itself.
      const kind = lists.length === 0 ? 0 : random();
      if (kind < 0.25) {
        const id = uuid();
        lists.push(id);
        await write({ op: 'insert-list', id, name: name() });
      } else if (kind < 0.5) {
        const id = uuid();
        const list = pick(lists);
        todos.set(id, list);
        await write({ op: 'insert-todo', id, list, title: name() });
      } else if (kind < 0.7) {
        await write({ op: 'update-list', id: pick(lists), name: name() });
      } else if (kind < 0.85 && todos.size > 0) {
        await write({
          op: 'update-todo',
          id: pick([...todos.keys()]),
          title: name(),
          done: random() < 0.5,
        });
      } else if (kind < 0.95 && todos.size > 0) {
        const id = pick([...todos.keys()]);
        todos.delete(id);
        await write({ op: 'delete-todo', id });
      } else {
        const id = pick(lists);
        lists.splice(lists.indexOf(id), 1);
        for (const [todo, list] of todos) if (list === id) todos.delete(todo);
        await write({ op: 'delete-list', id });
      }
    } else if (roll < 0.6) {
      // The peer adds rows of its own and pushes them: bundles for the main device to pull.
      const list = peerLists.length > 0 && random() < 0.6 ? pick(peerLists) : uuid();
      await peer.write((tx) => {
        if (!peerLists.includes(list)) {
          peerLists.push(list);
          tx.insert('lists', { id: list, name: `peer ${name()}` });
        }
        for (let n = 1 + Math.floor(random() * 4); n > 0; n--) {
          tx.insert('todos', { id: uuid(), list_id: list, title: `peer ${name()}` });
        }
      });
      await peer.sync();
    } else if (roll < 0.93) {
      await main.sync({ kind: pick(['full', 'full', 'push', 'pull'] as const) });
    } else {
      await main.hydrate();
    }
  }
  await peer.close();
}

async function runServerKeys(): Promise<void> {
  const keys = await createClient({
    schema: projectSchema,
    driver: betterSqlite3Driver(env('FERRY_DB')),
    url: env('FERRY_URL'),
    getToken: () => env('FERRY_TOKEN'),
    autoSync: false,
    hooks,
  });
  const { names } = JSON.parse(env('FERRY_IDS')) as { names: string[] };
  const projects: PrimaryKey[] = [];
  for (const name of names) {
    await keys.write((tx) => {
      const project = tx.insert('projects', { name });
      const task = tx.insert('tasks', { project_id: project as number, title: `${name}/1` });
      tx.insert('tasks', { project_id: project as number, title: `${name}/2` });
      tx.insert('notes', { id: crypto.randomUUID(), task_id: task as string, body: name });
      projects.push(project);
    });
  }
  say({ ack: 'trees' });
  await keys.sync();
  for (const [i, name] of names.entries()) {
    await keys.write((tx) => tx.update('projects', projects[i]!, { name: `${name}!` }));
  }
  say({ ack: 'edits' });
  await keys.sync();
  await keys.close();
}

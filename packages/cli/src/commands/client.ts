import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { createClient, type ClientStatus, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { FerryError, isFerryError } from '@ferry/protocol';
import type { CliCommand, CliIo } from '../cli-command.js';
import {
  diffSnapshots,
  findOne,
  formatLists,
  formatTodos,
  shortId,
  todoLine,
  type ListView,
  type TodoSnapshot,
  type TodoView,
} from './todo-view.js';

/** Options of `ferry client`. */
export interface ClientCommandOptions {
  readonly url: string;
  /** Undefined when neither `--token` nor the environment gives one. */
  readonly token: string | undefined;
  readonly db: string;
  /** `add --list`. */
  readonly list: string | undefined;
  /** `status` and `sync` print JSON. */
  readonly json: boolean;
}

/** A parsed `ferry client` command line. */
export type ParsedClientArgs =
  | {
      readonly ok: true;
      readonly help: boolean;
      readonly command: string | undefined;
      readonly args: readonly string[];
      readonly options: ClientCommandOptions;
    }
  | { readonly ok: false; readonly message: string };

const HELP = `Usage: ferry client [options] <command> [arguments]

A small client of the example todo schema: one SQLite file is one device.

Options:
  --url URL      the Ferry server (default $FERRY_URL, else http://127.0.0.1:8787)
  --token TOKEN  a token the server accepts (default $FERRY_TOKEN, else $TOKEN,
                 which \`ferry serve\` prints in development mode)
  --db FILE      this device's SQLite file (default $FERRY_DB, else ./ferry-client.db)
  --json         status and sync: print JSON
  -h, --help     show this help

Commands:
  lists                    the lists, with their open and done counts
  add-list NAME            create a list
  todos [LIST]             the todos of every list, or of LIST
  add TITLE [--list LIST]  add a todo (LIST: a name or an id prefix; without it,
                           the only list, or a new list "Inbox" when there is none)
  toggle TODO              mark a todo done, or open again (a title or an id prefix)
  status                   this device's sync status
  sync                     sync once and say what moved
  watch                    sync in the background (scheduler and server pokes) and
                           print changes as they arrive; Ctrl-C stops

Reads are local. Writes commit to the file first, then sync once; without a server
they stay in the file and go out with the next sync or watch.`;

const COMMAND_ARITY: Record<string, { min: number; max: number }> = {
  lists: { min: 0, max: 0 },
  'add-list': { min: 1, max: 1 },
  todos: { min: 0, max: 1 },
  add: { min: 1, max: 1 },
  toggle: { min: 1, max: 1 },
  status: { min: 0, max: 0 },
  sync: { min: 0, max: 0 },
  watch: { min: 0, max: 0 },
};

/** Parses the arguments of `ferry client` (options may come before or after the command). */
export function parseClientArgs(args: readonly string[], env: CliIo['env'] = {}): ParsedClientArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      options: {
        url: { type: 'string' },
        token: { type: 'string' },
        db: { type: 'string' },
        list: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (error) {
    return { ok: false, message: (error as Error).message };
  }
  const { values, positionals } = parsed;
  const [command, ...rest] = positionals;
  const options: ClientCommandOptions = {
    url: values.url ?? env['FERRY_URL'] ?? 'http://127.0.0.1:8787',
    token: values.token ?? env['FERRY_TOKEN'] ?? env['TOKEN'],
    db: values.db ?? env['FERRY_DB'] ?? './ferry-client.db',
    list: values.list,
    json: values.json,
  };
  if (values.help) return { ok: true, help: true, command, args: rest, options };
  if (command === undefined) return { ok: false, message: 'name a command' };
  const arity = COMMAND_ARITY[command];
  if (arity === undefined) return { ok: false, message: `unknown command "${command}"` };
  if (rest.length < arity.min || rest.length > arity.max) {
    return {
      ok: false,
      message: `${command} takes ${arity.min === arity.max ? arity.min : `${arity.min} to ${arity.max}`} argument(s), got ${rest.length}`,
    };
  }
  if (values.list !== undefined && command !== 'add') {
    return { ok: false, message: '--list goes with add' };
  }
  try {
    new URL(options.url);
  } catch {
    return { ok: false, message: `--url is not a URL: ${options.url}` };
  }
  return { ok: true, help: false, command, args: rest, options };
}

/** What a command run may be given besides its arguments. */
export interface ClientCommandContext {
  /** Stops `watch` (and aborts a sync in progress). */
  readonly signal?: AbortSignal;
}

/**
 * Runs `ferry client …` and resolves with the exit status: 0 done, 1 failed (e.g. `sync`
 * could not reach the server), 2 bad usage.
 */
export async function runClientCommand(
  args: readonly string[],
  io: CliIo,
  context: ClientCommandContext = {},
): Promise<number> {
  const parsed = parseClientArgs(args, io.env);
  if (!parsed.ok) {
    io.err(`ferry client: ${parsed.message}\n\n${HELP}`);
    return 2;
  }
  if (parsed.help) {
    io.out(HELP);
    return 0;
  }
  const { command, options } = parsed;
  const needsToken = command === 'sync' || command === 'watch';
  if (needsToken && options.token === undefined) {
    io.err(
      `ferry client: ${command} needs a token: --token, $FERRY_TOKEN or $TOKEN (ferry serve prints one)`,
    );
    return 2;
  }
  const watching = command === 'watch';
  let client: FerryClient<TodoSchema>;
  try {
    client = await createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(resolve(options.db)),
      url: options.url,
      getToken: () => {
        if (options.token === undefined) {
          throw new FerryError('unauthorized', 'no token: pass --token or set $TOKEN');
        }
        return options.token;
      },
      requestTimeoutMs: 15_000,
      autoSync: watching,
    });
  } catch (error) {
    io.err(`ferry client: cannot open ${options.db}: ${messageOf(error)}`);
    return 1;
  }
  try {
    const run = new CommandRun(client, io, options, context.signal);
    return await run.command(command!, parsed.args);
  } catch (error) {
    io.err(`ferry client: ${messageOf(error)}`);
    return isFerryError(error, 'invalid_argument') ? 2 : 1;
  } finally {
    await client.close();
  }
}

/** `ferry client`: the example todo app on the command line, one SQLite file per device. */
export const clientCommand: CliCommand = {
  name: 'client',
  summary: 'a todo client of the example schema: add, list, toggle, sync, watch',
  async run(args, io) {
    const controller = new AbortController();
    const stop = () => controller.abort(new FerryError('aborted', 'interrupted'));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      return await runClientCommand(args, io, { signal: controller.signal });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};

class CommandRun {
  readonly #client: FerryClient<TodoSchema>;
  readonly #io: CliIo;
  readonly #options: ClientCommandOptions;
  readonly #signal: AbortSignal | undefined;

  constructor(
    client: FerryClient<TodoSchema>,
    io: CliIo,
    options: ClientCommandOptions,
    signal: AbortSignal | undefined,
  ) {
    this.#client = client;
    this.#io = io;
    this.#options = options;
    this.#signal = signal;
  }

  async command(name: string, args: readonly string[]): Promise<number> {
    switch (name) {
      case 'lists':
        return this.#lists();
      case 'todos':
        return this.#todos(args[0]);
      case 'add-list':
        return this.#write(async () => {
          const id = randomUUID();
          await this.#client.write((tx) => tx.insert('lists', { id, name: args[0]! }));
          this.#io.out(`added list ${args[0]!}  (${shortId(id)})`);
        });
      case 'add':
        return this.#write(() => this.#addTodo(args[0]!));
      case 'toggle':
        return this.#write(() => this.#toggle(args[0]!));
      case 'status':
        return this.#status();
      case 'sync':
        return this.#sync();
      case 'watch':
        return this.#watch();
      default:
        throw new FerryError('invalid_argument', `unknown command "${name}"`);
    }
  }

  async #lists(): Promise<number> {
    const snapshot = await readSnapshot(this.#client);
    const lines = formatLists(snapshot);
    for (const line of lines.length ? lines : ['(no lists)']) this.#io.out(line);
    await this.#hintNeverSynced();
    return 0;
  }

  async #todos(listQuery: string | undefined): Promise<number> {
    const snapshot = await readSnapshot(this.#client);
    let only: ListView | undefined;
    if (listQuery !== undefined) {
      const found = findOne(snapshot.lists.values(), listQuery, (l) => l.name, 'list');
      if (!found.ok) throw new FerryError('invalid_argument', found.message);
      only = found.value;
    }
    const lines = formatTodos(snapshot, only);
    for (const line of lines.length ? lines : ['(no lists)']) this.#io.out(line);
    await this.#hintNeverSynced();
    return 0;
  }

  /**
   * A write: catch up with the server first (so names typed here find what other devices
   * made), commit locally, then push. The write counts even when the server is out of reach.
   */
  async #write(fn: () => Promise<void>): Promise<number> {
    const canSync = this.#options.token !== undefined;
    if (canSync) await this.#client.sync({ signal: this.#signal }).catch(() => undefined);
    await fn();
    if (!canSync) {
      this.#io.err('saved in the file; not synced: no token (--token or $TOKEN)');
      return 0;
    }
    try {
      await this.#client.sync({ signal: this.#signal });
      this.#io.out('synced');
    } catch (error) {
      this.#io.err(
        `saved in the file; not synced (${messageOf(error)}): it goes out with the next sync`,
      );
    }
    return 0;
  }

  async #addTodo(title: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const lists = [...snapshot.lists.values()];
    let list: ListView;
    if (this.#options.list !== undefined) {
      const found = findOne(lists, this.#options.list, (l) => l.name, 'list');
      if (!found.ok) throw new FerryError('invalid_argument', found.message);
      list = found.value;
    } else if (lists.length === 1) {
      list = lists[0]!;
    } else if (lists.length === 0) {
      list = { id: randomUUID(), name: 'Inbox' };
    } else {
      throw new FerryError(
        'invalid_argument',
        `there are ${lists.length} lists: name one with --list`,
      );
    }
    const todo: TodoView = { id: randomUUID(), listId: list.id, title, done: false };
    await this.#client.write((tx) => {
      if (!snapshot.lists.has(list.id)) tx.insert('lists', { id: list.id, name: list.name });
      tx.insert('todos', { id: todo.id, list_id: list.id, title });
    });
    this.#io.out(`added ${todoLine(todo)} in ${list.name}`);
  }

  async #toggle(query: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const found = findOne(snapshot.todos.values(), query, (t) => t.title, 'todo');
    if (!found.ok) throw new FerryError('invalid_argument', found.message);
    const todo = found.value;
    await this.#client.write((tx) => tx.update('todos', todo.id, { done: !todo.done }));
    this.#io.out(`${todoLine({ ...todo, done: !todo.done })}`);
  }

  async #status(): Promise<number> {
    const status = await this.#client.readStatus();
    if (this.#options.json) {
      this.#io.out(JSON.stringify(statusJson(status)));
      return 0;
    }
    for (const line of formatStatus(status, this.#options)) this.#io.out(line);
    return 0;
  }

  async #sync(): Promise<number> {
    try {
      const report = await this.#client.sync({ signal: this.#signal });
      if (this.#options.json) {
        this.#io.out(
          JSON.stringify({
            pushed: report.pushed,
            pulled: report.pulled,
            hydrated: report.hydrated,
            conflicts: report.conflicts.length,
            deadLettered: report.deadLettered.length,
            checkpoint: report.checkpoint,
          }),
        );
      } else {
        const parts = [`pushed ${report.pushed}`, `pulled ${report.pulled}`];
        if (report.hydrated) parts.push('hydrated from a snapshot');
        if (report.conflicts.length) parts.push(`${report.conflicts.length} conflict(s) settled`);
        if (report.deadLettered.length) parts.push(`${report.deadLettered.length} refused`);
        this.#io.out(`synced: ${parts.join(', ')} (checkpoint ${report.checkpoint})`);
      }
      return 0;
    } catch (error) {
      this.#io.err(`ferry client: sync failed: ${messageOf(error)}; local changes are kept`);
      return 1;
    }
  }

  async #watch(): Promise<number> {
    const client = this.#client;
    const io = this.#io;
    let shown = await readSnapshot(client);
    io.out(`watching ${this.#options.url} with ${this.#options.db}; Ctrl-C stops`);
    const listing = formatTodos(shown);
    for (const line of listing.length ? listing : ['(no lists yet)']) io.out(line);
    let refreshing: Promise<void> = Promise.resolve();
    const refresh = () => {
      refreshing = refreshing
        .then(async () => {
          const next = await readSnapshot(client);
          for (const line of diffSnapshots(shown, next)) io.out(line);
          shown = next;
        })
        .catch((error: unknown) => io.err(`ferry client: ${messageOf(error)}`));
    };
    let problem: string | null = null;
    // Only changes are news: the stream starts disconnected and connects a moment later.
    let realtime: ClientStatus['realtime'] = client.status.realtime;
    const unsubscribe = client.subscribe((event) => {
      if (event.type === 'remote-change') refresh();
      if (event.type !== 'status') return;
      const status = event.status;
      const now = describeProblem(status);
      if (now !== problem) {
        if (now !== null) io.out(`sync: ${now}`);
        else if (problem !== null) io.out('sync: back in sync');
        problem = now;
      }
      if (status.realtime !== realtime && status.state !== 'closed') {
        realtime = status.realtime;
        io.out(
          realtime === 'connected'
            ? 'realtime: connected (changes arrive as they are made)'
            : 'realtime: disconnected (the periodic sync still runs)',
        );
      }
    });
    const signal = this.#signal;
    await new Promise<void>((done) => {
      if (signal === undefined) return; // runs until the process ends
      if (signal.aborted) done();
      signal.addEventListener('abort', () => done(), { once: true });
    });
    unsubscribe();
    await refreshing;
    await client.close();
    io.out('stopped');
    return 0;
  }

  async #hintNeverSynced(): Promise<void> {
    if ((await this.#client.readStatus()).checkpoint === null) {
      this.#io.err('(this device has not synced yet: run `ferry client sync` or `watch`)');
    }
  }
}

/** Reads the lists and todos of the file. */
async function readSnapshot(client: FerryClient<TodoSchema>): Promise<TodoSnapshot> {
  const lists = await client.query<{ id: string; name: string }>('SELECT id, name FROM lists');
  const todos = await client.query<{ id: string; list_id: string; title: string; done: number }>(
    'SELECT id, list_id, title, done FROM todos',
  );
  return {
    lists: new Map(lists.map((l) => [l.id, { id: l.id, name: l.name }])),
    todos: new Map(
      todos.map((t) => [t.id, { id: t.id, listId: t.list_id, title: t.title, done: t.done === 1 }]),
    ),
  };
}

/** A line for a status that needs attention, or null when sync is fine. */
export function describeProblem(status: ClientStatus): string | null {
  const failure = status.lastFailure;
  const why = failure ? ` (${failure.code ?? failure.class}: ${failure.message})` : '';
  switch (status.state) {
    case 'offline':
      return 'offline: changes wait in the file';
    case 'backoff':
      return `retry ${status.consecutiveFailures} at ${timeOf(status.nextRetryAt)}${why}`;
    case 'paused':
      return `paused after ${status.consecutiveFailures} failed attempts, next try at ${timeOf(status.nextRetryAt)}${why}`;
    case 'blocked-auth':
      return status.auth === 'failed'
        ? `the server refuses the token and no new one came${why}`
        : `refreshing the token${why}`;
    case 'blocked-conflict':
      return `conflicts keep coming back; waiting${why}`;
    case 'error':
      return `failed${why}`;
    default:
      return null;
  }
}

/** The status as lines for people. */
export function formatStatus(status: ClientStatus, options: ClientCommandOptions): string[] {
  const at = (ms: number | null) => (ms === null ? 'never' : new Date(ms).toISOString());
  const inFlight = status.inFlight
    ? `bundle ${status.inFlight.sourceBundleId} with ${status.inFlight.changes} change(s)${
        status.inFlight.committedSeq === null
          ? ''
          : `, committed as ${status.inFlight.committedSeq}`
      }`
    : 'none';
  return [
    `device:       ${options.db} (source ${status.sourceId})`,
    `server:       ${options.url}`,
    `user:         ${status.userId ?? '(not synced yet)'}`,
    `pending:      ${status.pending} row(s)${
      status.oldestPendingAt === null ? '' : `, oldest from ${at(status.oldestPendingAt)}`
    }`,
    `in flight:    ${inFlight}`,
    `checkpoint:   ${status.checkpoint ?? '(never synced)'}`,
    `conflicts:    ${status.conflicts}`,
    `dead letters: ${status.deadLetters}`,
  ];
}

function statusJson(status: ClientStatus) {
  return {
    ...status,
    lastError: status.lastError
      ? { code: status.lastError.code, message: status.lastError.message }
      : null,
  };
}

function timeOf(ms: number | null): string {
  return ms === null ? '?' : new Date(ms).toLocaleTimeString();
}

function messageOf(error: unknown): string {
  if (isFerryError(error)) return `${error.code}: ${error.message}`;
  return error instanceof Error ? error.message : String(error);
}

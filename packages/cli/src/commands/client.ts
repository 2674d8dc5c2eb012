import { randomUUID } from 'node:crypto';
import { resolve } from 'node:path';
import { createClient, type ClientStatus, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { FerryError, isFerryError } from '@ferry/protocol';
import type { CliIo } from '../cli-command.js';
import {
  answerWithoutEngine,
  parseClientArgs,
  type ClientCommandContext,
  type ClientCommandOptions,
} from './client-command.js';
import { formatConflicts, settledConflictLine } from './conflicts-view.js';
import {
  checkListName,
  checkText,
  diffSnapshots,
  findOne,
  formatLists,
  formatTodos,
  shortId,
  todoLine,
  type Found,
  type ListView,
  type TodoSnapshot,
  type TodoView,
} from './todo-view.js';

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
  const answered = answerWithoutEngine(parsed, io);
  if (answered !== undefined || !parsed.ok) return answered ?? 2;
  const { command, options } = parsed;
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
        return this.#write(() => this.#addList(args[0]!));
      case 'rename-list':
        return this.#write(() => this.#renameList(args[0]!, args[1]!));
      case 'rm-list':
        return this.#write(() => this.#removeList(args[0]!));
      case 'add':
        return this.#write(() => this.#addTodo(args[0]!));
      case 'toggle':
        return this.#write(() => this.#toggle(args[0]!));
      case 'rename':
        return this.#write(() => this.#renameTodo(args[0]!, args[1]!));
      case 'rm':
        return this.#write(() => this.#removeTodo(args[0]!));
      case 'status':
        return this.#status();
      case 'conflicts':
        return this.#conflicts();
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
      only = found(findOne(snapshot.lists.values(), listQuery, (l) => l.name, 'list'));
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

  async #addList(name: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const id = randomUUID();
    const checked = checkListName(snapshot.lists.values(), name, id);
    if (!checked.ok) throw new FerryError('invalid_argument', checked.message);
    await this.#client.write((tx) => tx.insert('lists', { id, name: checked.value }));
    this.#io.out(`added list ${checked.value}  (${shortId(id)})`);
  }

  async #renameList(query: string, name: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const list = found(findOne(snapshot.lists.values(), query, (l) => l.name, 'list'));
    const checked = checkListName(snapshot.lists.values(), name, list.id);
    if (!checked.ok) throw new FerryError('invalid_argument', checked.message);
    await this.#client.write((tx) => tx.update('lists', list.id, { name: checked.value }));
    this.#io.out(`renamed list ${list.name} to ${checked.value}  (${shortId(list.id)})`);
  }

  async #removeList(query: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const list = found(findOne(snapshot.lists.values(), query, (l) => l.name, 'list'));
    const todos = [...snapshot.todos.values()].filter((t) => t.listId === list.id).length;
    // The schema cascades: the list's todos go with it, here and on every device.
    await this.#client.write((tx) => tx.delete('lists', list.id));
    this.#io.out(
      `removed list ${list.name}  (${shortId(list.id)})${todos ? ` and its ${todos} todo(s)` : ''}`,
    );
  }

  async #renameTodo(query: string, title: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const todo = this.#findTodo(snapshot, query);
    const checked = checkText(title, 'a todo');
    if (!checked.ok) throw new FerryError('invalid_argument', checked.message);
    await this.#client.write((tx) => tx.update('todos', todo.id, { title: checked.value }));
    this.#io.out(`renamed ${todo.title} to ${todoLine({ ...todo, title: checked.value })}`);
  }

  async #removeTodo(query: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const todo = this.#findTodo(snapshot, query);
    await this.#client.write((tx) => tx.delete('todos', todo.id));
    this.#io.out(`removed ${todoLine(todo)}`);
  }

  /** The todo `query` names, in the `--list` list when one is given. */
  #findTodo(snapshot: TodoSnapshot, query: string): TodoView {
    let todos = [...snapshot.todos.values()];
    if (this.#options.list !== undefined) {
      const list = found(
        findOne(snapshot.lists.values(), this.#options.list, (l) => l.name, 'list'),
      );
      todos = todos.filter((todo) => todo.listId === list.id);
    }
    return found(findOne(todos, query, (t) => t.title, 'todo'));
  }

  async #addTodo(title: string): Promise<void> {
    const snapshot = await readSnapshot(this.#client);
    const lists = [...snapshot.lists.values()];
    const checked = checkText(title, 'a todo');
    if (!checked.ok) throw new FerryError('invalid_argument', checked.message);
    title = checked.value;
    let list: ListView;
    if (this.#options.list !== undefined) {
      list = found(findOne(lists, this.#options.list, (l) => l.name, 'list'));
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
    const todo = this.#findTodo(snapshot, query);
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

  async #conflicts(): Promise<number> {
    const open = await this.#client.conflicts();
    const settled = await this.#client.settledConflicts();
    if (this.#options.json) {
      this.#io.out(JSON.stringify({ open, settled }));
      return 0;
    }
    for (const line of formatConflicts(open, settled)) this.#io.out(line);
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
            settledConflicts: report.settledConflicts.length,
            deadLettered: report.deadLettered.length,
            checkpoint: report.checkpoint,
          }),
        );
      } else {
        const parts = [`pushed ${report.pushed}`, `pulled ${report.pulled}`];
        if (report.hydrated) parts.push('hydrated from a snapshot');
        if (report.conflicts.length) parts.push(`${report.conflicts.length} conflict(s) settled`);
        if (report.settledConflicts.length) {
          parts.push(
            `${report.settledConflicts.length} value(s) replaced (see \`ferry client conflicts\`)`,
          );
        }
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
      if (event.type === 'settled-conflicts') {
        for (const entry of event.entries) io.out(`conflict: ${settledConflictLine(entry)}`);
      }
      if (event.type !== 'status') return;
      const status = event.status;
      const news = syncNews(problem, status);
      if (news.line !== null) io.out(news.line);
      problem = news.shown;
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

/** The item found, or the reason as an `invalid_argument` error (the command exits 2). */
function found<T>(result: Found<T>): T {
  if (!result.ok) throw new FerryError('invalid_argument', result.message);
  return result.value;
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

/**
 * What `watch` says about sync on a new status, given the problem it last showed: a problem as
 * it appears or changes, and "back in sync" only after a problem was shown and a successful
 * exchange followed it (`inSyncSince`): never because a retry, or a trial, merely started.
 */
export function syncNews(
  shown: string | null,
  status: ClientStatus,
): { readonly line: string | null; readonly shown: string | null } {
  const problem = describeProblem(status);
  if (problem !== null) {
    return problem === shown ? { line: null, shown } : { line: `sync: ${problem}`, shown: problem };
  }
  if (shown !== null && status.inSyncSince !== null)
    return { line: 'sync: back in sync', shown: null };
  return { line: null, shown };
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
    `pending:      ${unacknowledged(status)} row(s) not on the server yet${
      status.oldestPendingAt === null ? '' : `, oldest from ${at(status.oldestPendingAt)}`
    }`,
    `in flight:    ${inFlight}`,
    `checkpoint:   ${status.checkpoint ?? '(never synced)'}`,
    `conflicts:    ${status.conflicts}`,
    `settled:      ${status.settledConflicts} value(s) replaced by a conflict policy${
      status.settledConflicts > 0 ? ' (ferry client conflicts)' : ''
    }`,
    `dead letters: ${status.deadLetters}`,
  ];
}

/**
 * Rows written here that the server has not acknowledged: those waiting in the outbox and those
 * of a bundle sent (or being sent) without an answer yet. A person asks "is my write on the
 * server?", and a bundle whose answer was lost is not, as far as this device knows.
 */
export function unacknowledged(status: ClientStatus): number {
  const inFlight = status.inFlight;
  return (
    status.pending + (inFlight !== null && inFlight.committedSeq === null ? inFlight.changes : 0)
  );
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

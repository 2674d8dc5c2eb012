/**
 * The `ferry client` entry: its options, its help, and the answers that need no engine (help,
 * bad usage, a missing token). The client engine, SQLite and zod load only when a command runs
 * (`./client.js`), so `ferry client --help` and a mistyped command answer at once.
 *
 * @module
 */
import { parseArgs } from 'node:util';
import type { CliCommand, CliIo } from '../cli-command.js';

/** Options of `ferry client`. */
export interface ClientCommandOptions {
  readonly url: string;
  /** Undefined when neither `--token` nor the environment gives one. */
  readonly token: string | undefined;
  readonly db: string;
  /** `--list`: the list of `add`, or the list to look for the todo in. */
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

/** What a command run may be given besides its arguments. */
export interface ClientCommandContext {
  /** Stops `watch` (and aborts a sync in progress). */
  readonly signal?: AbortSignal;
}

/** The help of `ferry client`. */
export const CLIENT_HELP = `Usage: ferry client [options] <command> [arguments]

A small client of the example todo schema: one SQLite file is one device.

Options:
  --url URL      the Ferry server (default $FERRY_URL, else http://127.0.0.1:8787)
  --token TOKEN  a token the server accepts (default $FERRY_TOKEN, else $TOKEN,
                 which \`ferry serve\` prints)
  --db FILE      this device's SQLite file (default $FERRY_DB, else ./ferry-client.db)
  --list LIST    add: the list to add to; toggle, rename, rm: the list to look in
  --json         status, sync and conflicts: print JSON
  -h, --help     show this help

Commands:
  lists                  the lists, with their open and done counts
  add-list NAME          create a list (a name another list has is refused)
  rename-list LIST NAME  give a list a new name
  rm-list LIST           delete a list and its todos
  todos [LIST]           the todos of every list, or of LIST
  add TITLE              add a todo to --list LIST; without it, to the only list,
                         or to a new list "Inbox" when there is none
  toggle TODO            mark a todo done, or open again
  rename TODO TITLE      give a todo a new title
  rm TODO                delete a todo
  status                 this device's sync status
  conflicts              conflicts waiting for you, and the values conflict
                         policies replaced (newest first)
  sync                   sync once and say what moved
  watch                  sync in the background (scheduler and server pokes) and
                         print changes as they arrive; Ctrl-C stops

LIST is a list's name (in any case) or the start of its id (4 characters or more, as
printed in parentheses); TODO is a todo's title or the start of its id. When a name fits
more than one, the command names their ids and changes nothing.

Reads are local. Writes sync first (to see what other devices made), commit to the
file, then sync again; without a server they stay in the file and go out with the next
sync or watch.`;

/** Each command: how many arguments it takes, whether `--list` goes with it. */
const COMMAND_SHAPES: Readonly<Record<string, { args: [number, number]; list: boolean }>> = {
  lists: { args: [0, 0], list: false },
  'add-list': { args: [1, 1], list: false },
  'rename-list': { args: [2, 2], list: false },
  'rm-list': { args: [1, 1], list: false },
  todos: { args: [0, 1], list: false },
  add: { args: [1, 1], list: true },
  toggle: { args: [1, 1], list: true },
  rename: { args: [2, 2], list: true },
  rm: { args: [1, 1], list: true },
  status: { args: [0, 0], list: false },
  conflicts: { args: [0, 0], list: false },
  sync: { args: [0, 0], list: false },
  watch: { args: [0, 0], list: false },
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
  const shape = COMMAND_SHAPES[command];
  if (shape === undefined) return { ok: false, message: `unknown command "${command}"` };
  const [min, max] = shape.args;
  if (rest.length < min || rest.length > max) {
    return {
      ok: false,
      message: `${command} takes ${min === max ? min : `${min} to ${max}`} argument(s), got ${rest.length}`,
    };
  }
  if (values.list !== undefined && !shape.list) {
    const withList = Object.keys(COMMAND_SHAPES).filter((name) => COMMAND_SHAPES[name]!.list);
    return { ok: false, message: `--list goes with ${withList.join(', ')}` };
  }
  try {
    new URL(options.url);
  } catch {
    return { ok: false, message: `--url is not a URL: ${options.url}` };
  }
  return { ok: true, help: false, command, args: rest, options };
}

/**
 * The exit status of a command line that needs no engine (help: 0; bad usage or a missing
 * token: 2, with the reason on stderr), or undefined when the command must run.
 */
export function answerWithoutEngine(parsed: ParsedClientArgs, io: CliIo): number | undefined {
  if (!parsed.ok) {
    io.err(`ferry client: ${parsed.message}\n\n${CLIENT_HELP}`);
    return 2;
  }
  if (parsed.help) {
    io.out(CLIENT_HELP);
    return 0;
  }
  const { command, options } = parsed;
  if ((command === 'sync' || command === 'watch') && options.token === undefined) {
    io.err(
      `ferry client: ${command} needs a token: --token, $FERRY_TOKEN or $TOKEN (ferry serve prints one)`,
    );
    return 2;
  }
  return undefined;
}

/** `ferry client`: the example todo app on the command line, one SQLite file per device. */
export const clientCommand: CliCommand = {
  name: 'client',
  summary: 'a todo client of the example schema: add, list, toggle, rename, rm, sync, watch',
  async run(args, io) {
    const answered = answerWithoutEngine(parseClientArgs(args, io.env), io);
    if (answered !== undefined) return answered;
    const controller = new AbortController();
    const stop = () => controller.abort(new Error('interrupted'));
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
    try {
      const { runClientCommand } = await import('./client.js');
      return await runClientCommand(args, io, { signal: controller.signal });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    }
  },
};

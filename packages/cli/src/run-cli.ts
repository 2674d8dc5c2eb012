import { clientCommand } from './commands/client-command.js';
import type { CliCommand, CliIo } from './cli-command.js';

/**
 * `ferry serve`; its module (the server, pino, the stores) loads only when it runs, so other
 * commands and `--help` start without it.
 */
const serveCommand: CliCommand = {
  name: 'serve',
  summary: 'run the Ferry sync server (embedded SQLite by default, PostgreSQL with --postgres)',
  run: async (args, io) => (await import('./commands/serve.js')).runServe(args, io),
};

/** `ferry migrate`: loads the server and stores only when it runs, as `serve` does. */
const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: "bring the server's database to the newest schema version (--dry-run: print the plan)",
  run: async (args, io) => (await import('./commands/migrate.js')).runMigrate(args, io),
};

/**
 * Every subcommand of `ferry`. Add one by adding a {@link CliCommand} here; keep this module's
 * static imports light (node: builtins and command tables) and load a command's engine with
 * `import()` when it runs: every start of `ferry` pays for what this module imports.
 */
export const COMMANDS: readonly CliCommand[] = [serveCommand, migrateCommand, clientCommand];

const DEFAULT_IO: CliIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/**
 * Runs `ferry <command> [options]` and resolves with the exit status. Long-running commands
 * (serve) resolve once they have stopped.
 */
export async function runCli(argv: readonly string[], io: CliIo = DEFAULT_IO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(usage());
    return name === undefined ? 1 : 0;
  }
  const command = COMMANDS.find((c) => c.name === name);
  if (!command) {
    io.err(`ferry: unknown command "${name}"\n\n${usage()}`);
    return 1;
  }
  return command.run(rest, io);
}

function usage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    'Usage: ferry <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Run "ferry <command> --help" for the options of a command.',
  ].join('\n');
}

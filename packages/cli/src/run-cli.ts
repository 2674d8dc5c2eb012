import { clientCommand } from './commands/client.js';
import { serveCommand } from './commands/serve.js';
import type { CliCommand, CliIo } from './cli-command.js';

/** Every subcommand of `ferry`. Add one by adding a {@link CliCommand} here. */
export const COMMANDS: readonly CliCommand[] = [serveCommand, clientCommand];

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

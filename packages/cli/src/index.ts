/**
 * `@ferry/cli`: the `ferry` command line. `ferry serve` runs the standalone sync server; more
 * subcommands join {@link COMMANDS}.
 *
 * @module
 */
export { COMMANDS, runCli } from './run-cli.js';
export type { CliCommand, CliIo } from './cli-command.js';
export { loadSchema, parseServeArgs, runServe, startServe } from './commands/serve.js';
export type { RunningServe, ServeOptions } from './commands/serve.js';

/**
 * The `ferry` executable's entry: runs the command line and exits with its status.
 *
 * @module
 */
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2));
// The command is done (serve and watch only return once stopped). Exit once what it printed is
// flushed, instead of waiting for fetch's idle keep-alive connection to time out, which held a
// finished `ferry client` command open for up to 4 s more.
process.stdout.write('', () => process.stderr.write('', () => process.exit()));

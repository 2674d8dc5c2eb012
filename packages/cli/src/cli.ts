/**
 * The `ferry` executable's entry: runs the command line and exits with its status.
 *
 * @module
 */
import { runCli } from './run-cli.js';

process.exitCode = await runCli(process.argv.slice(2));

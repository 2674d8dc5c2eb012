/**
 * The database thread of `betterSqlite3WorkerDriver`: opens the file with `betterSqlite3Driver`
 * and serves the engine's calls (`serveDriver`).
 *
 * @module
 */
import { parentPort, workerData } from 'node:worker_threads';
import { serveDriver, type DriverAnswer, type DriverCall } from '../driver/remote-driver.js';
import { betterSqlite3Driver, type BetterSqlite3DriverOptions } from './better-sqlite3.js';

const { path, options } = workerData as {
  readonly path: string;
  readonly options: BetterSqlite3DriverOptions;
};
const port = parentPort!;
serveDriver(
  {
    postMessage: (answer: DriverAnswer) => port.postMessage(answer),
    listen: (listener: (call: DriverCall) => void) => port.on('message', listener),
  },
  betterSqlite3Driver(path, options),
);

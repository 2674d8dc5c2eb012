/**
 * `@ferry/client/better-sqlite3-worker`: better-sqlite3 in a thread of its own (Node
 * `worker_threads`), so no SQL runs on the app's thread. With the in-thread driver a long
 * statement (the COMMIT of a large hydration, a big pull page) holds the event loop for its whole
 * length; with this one the loop stays free, at the price of a message round trip per call
 * (about 50 µs here: a one-row `client.write` takes about twice as long; sync paths hardly change).
 *
 * @example
 * import { createClient } from '@ferry/client';
 * import { betterSqlite3WorkerDriver } from '@ferry/client/better-sqlite3-worker';
 *
 * const client = await createClient({ schema, driver: betterSqlite3WorkerDriver('./app.db'), url, getToken });
 *
 * @module
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { remoteDriver, type DriverAnswer, type DriverCall } from '../driver/remote-driver.js';
import type { SqliteDriver } from '../driver/sqlite-driver.js';
import type { BetterSqlite3DriverOptions } from './better-sqlite3.js';

/**
 * A driver whose database is the file at `path`, opened by `betterSqlite3Driver` (same options,
 * same pragmas) in a worker thread that ends when the driver closes. The thread is referenced
 * only while a call waits on it. If it dies, every call rejects with `store_unavailable`.
 */
export function betterSqlite3WorkerDriver(
  path: string,
  options: BetterSqlite3DriverOptions = {},
): SqliteDriver {
  const worker = fromSourceFile(import.meta.url)
    ? sourceWorker(path, options)
    : new Worker(new URL('./better-sqlite3-worker-entry.js', import.meta.url), {
        workerData: { path, options },
      });
  worker.unref();
  const driver = remoteDriver(
    {
      postMessage: (call: DriverCall) => worker.postMessage(call),
      listen: (listener: (answer: DriverAnswer) => void) => worker.on('message', listener),
    },
    {
      onClosed: async () => {
        await worker.terminate();
      },
      onBusy: (busy) => (busy ? worker.ref() : worker.unref()),
    },
  );
  worker.on('error', (error) => driver.failAll(error));
  worker.on('exit', (code) => driver.failAll(new Error(`the database thread exited (${code})`)));
  return Object.assign(driver, { storage: path === ':memory:' || path === '' ? 'memory' : 'file' });
}

function fromSourceFile(url: string): boolean {
  return url.endsWith('.ts');
}

/**
 * Run from the TypeScript sources (tests, the simulator), the thread loads the entry's source
 * through tsx (a development dependency), with the workspace's source condition.
 */
function sourceWorker(path: string, options: BetterSqlite3DriverOptions): Worker {
  const entry = new URL('./better-sqlite3-worker-entry.ts', import.meta.url).href;
  // tsx's ESM API (`tsImport` loads a TypeScript module with a loader of its own): the
  // CommonJS build's path is what require resolves; the ESM build sits beside it.
  const api = createRequire(import.meta.url)
    .resolve('tsx/esm/api')
    .replace(/\.cjs$/, '.mjs');
  const bootstrap =
    "const { workerData } = require('node:worker_threads');" +
    'import(workerData.api).then((tsx) => tsx.tsImport(workerData.entry, workerData.entry));';
  return new Worker(bootstrap, {
    eval: true,
    workerData: { path, options, api: pathToFileURL(api).href, entry },
    execArgv: ['--conditions=@ferry/source'],
  });
}

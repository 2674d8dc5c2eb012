/**
 * `@ferry/client/wa-sqlite-worker`: the module of the dedicated Web Worker that holds a browser
 * database. Start it as a module worker and hand it to `waSqliteWorkerDriver`
 * (`@ferry/client/wa-sqlite`); the page never runs SQL itself.
 *
 * The worker waits for one `open` message carrying the options of `openWaSqlite` and a
 * `MessagePort`, opens the database, answers `opened` (with the storage in use) or
 * `open-failed` on that port, then serves the driver's calls on it (`serveDriver`).
 *
 * @example
 * // With Vite: the `?worker` suffix bundles the module as a worker.
 * import FerryWorker from '@ferry/client/wa-sqlite-worker?worker';
 * const driver = await waSqliteWorkerDriver(new FerryWorker(), { name: 'todos' });
 *
 * @module
 */
import {
  serveDriver,
  sentError,
  type DriverAnswer,
  type DriverCall,
} from '../driver/remote-driver.js';
import { openWaSqlite } from './wa-sqlite.js';
import type { OpenMessage, OpenAnswer } from './wa-sqlite-worker.js';

/** The worker's global scope, as far as this module uses it. */
const scope = globalThis as unknown as {
  addEventListener(type: 'message', listener: (event: MessageEvent<OpenMessage>) => void): void;
};

let opened = false;
scope.addEventListener('message', (event) => {
  const message = event.data;
  if (message?.type !== 'open' || opened) return;
  opened = true;
  const port = message.port;
  const answer = (value: OpenAnswer) => port.postMessage(value);
  openWaSqlite(message.options).then(
    ({ driver, storage }) => {
      serveDriver(
        {
          postMessage: (reply: DriverAnswer) => port.postMessage(reply),
          listen: (listener: (call: DriverCall) => void) => {
            port.onmessage = (call: MessageEvent<DriverCall>) => listener(call.data);
          },
        },
        driver,
      );
      answer({ type: 'opened', storage });
    },
    (error: unknown) => answer({ type: 'open-failed', error: sentError(error) }),
  );
});

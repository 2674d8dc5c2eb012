/**
 * `@ferry/client/wa-sqlite`: the browser's {@link SqliteDriver}. The database is wa-sqlite in a
 * dedicated Web Worker (the module `@ferry/client/wa-sqlite-worker`), persisted on OPFS where
 * the browser has it and in IndexedDB where it does not; this side sends each call to the worker
 * and resolves it with the answer, so the page's thread never runs SQL. A long statement (a
 * large hydration's COMMIT) never blocks input.
 *
 * @example
 * import { createClient } from '@ferry/client';
 * import { waSqliteWorkerDriver } from '@ferry/client/wa-sqlite';
 * import FerryWorker from '@ferry/client/wa-sqlite-worker?worker'; // Vite
 *
 * const driver = await waSqliteWorkerDriver(new FerryWorker(), { name: 'todos' });
 * const client = await createClient({ schema, driver, url, getToken });
 * client.status.storage; // 'opfs' or 'indexeddb'
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import {
  receivedError,
  remoteDriver,
  type DriverAnswer,
  type DriverCall,
  type SentError,
} from '../driver/remote-driver.js';
import type { SqliteDriver } from '../driver/sqlite-driver.js';
import type { BrowserStorage, OpenWaSqliteOptions } from './wa-sqlite.js';

export type { BrowserStorage, OpenWaSqliteOptions } from './wa-sqlite.js';

/** The message that opens the database in the worker. */
export interface OpenMessage {
  readonly type: 'open';
  readonly options: OpenWaSqliteOptions;
  /** The port the driver's calls and the open's answer travel on. */
  readonly port: MessagePort;
}

/** The worker's answer to {@link OpenMessage}, on its port. */
export type OpenAnswer =
  | { readonly type: 'opened'; readonly storage: BrowserStorage }
  | { readonly type: 'open-failed'; readonly error: SentError };

/** The part of a `Worker` the driver uses. */
export interface WorkerLike {
  postMessage(message: unknown, transfer: Transferable[]): void;
  addEventListener(type: 'error', listener: (event: ErrorEvent) => void): void;
  terminate(): void;
}

/**
 * Opens the database `options.name` in `worker` (a module worker running
 * `@ferry/client/wa-sqlite-worker`) and resolves with its driver once it is open; the driver's
 * `storage` says where its pages live. Closing the driver closes the database and ends the
 * worker. If the worker fails, every call rejects with `store_unavailable`.
 */
export async function waSqliteWorkerDriver(
  worker: WorkerLike,
  options: OpenWaSqliteOptions,
): Promise<SqliteDriver & { readonly storage: BrowserStorage }> {
  const channel = new MessageChannel();
  const port = channel.port1;
  const storage = await new Promise<BrowserStorage>((resolve, reject) => {
    port.onmessage = (event: MessageEvent<OpenAnswer>) => {
      const answer = event.data;
      if (answer.type === 'opened') resolve(answer.storage);
      else reject(receivedError(answer.error));
    };
    worker.addEventListener('error', (event) =>
      reject(new FerryError('store_unavailable', `the database worker failed: ${event.message}`)),
    );
    const open: OpenMessage = { type: 'open', options, port: channel.port2 };
    worker.postMessage(open, [channel.port2]);
  }).catch((error: unknown) => {
    port.close();
    worker.terminate();
    throw error;
  });
  const driver = remoteDriver(
    {
      postMessage: (call: DriverCall) => port.postMessage(call),
      listen: (listener: (answer: DriverAnswer) => void) => {
        port.onmessage = (event: MessageEvent<DriverAnswer>) => listener(event.data);
      },
    },
    {
      onClosed: () => {
        port.close();
        worker.terminate();
      },
    },
  );
  worker.addEventListener('error', (event) =>
    driver.failAll(new Error(event.message || 'the database worker failed')),
  );
  return Object.assign(driver, { storage });
}

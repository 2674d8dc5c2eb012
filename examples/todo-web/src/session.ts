/**
 * Signing in: a development token for the user name from the server (`POST /dev/token`, which
 * `ferry serve` answers in development mode), then the user's own database in a worker
 * (wa-sqlite, OPFS or IndexedDB), a client on it, and the tab's place in the group of tabs.
 *
 * @module
 */
import { createClient, shareAcrossTabs, type FerryClient, type TabGroup } from '@ferry/client';
import { waSqliteWorkerDriver } from '@ferry/client/wa-sqlite';
import FerryWorker from '@ferry/client/wa-sqlite-worker?worker';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { mergeOrAsk } from './merge-or-ask.js';

export interface Session {
  readonly userId: string;
  readonly client: FerryClient<TodoSchema>;
  readonly tabs: TabGroup;
  close(): Promise<void>;
}

/** Asks the server for a development token of `userId`. */
export async function devToken(userId: string): Promise<string> {
  const response = await fetch('/dev/token', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ userId }),
  });
  const body = (await response.json().catch(() => ({}))) as {
    token?: string;
    error?: { message?: string };
  };
  if (!response.ok || typeof body.token !== 'string') {
    throw new Error(body.error?.message ?? `the server gave no token (${response.status})`);
  }
  return body.token;
}

/** Opens the session of `userId`: database, client, tabs. */
export async function openSession(userId: string): Promise<Session> {
  const token = await devToken(userId);
  const name = `todos-${userId}`;
  const driver = await waSqliteWorkerDriver(new FerryWorker(), { name });
  const client = await createClient({
    schema: todoSchema,
    driver,
    url: location.origin,
    getToken: () => token,
    resolvers: { lists: mergeOrAsk, todos: mergeOrAsk },
    // The tab that leads the group connects (see shareAcrossTabs).
    autoSync: false,
  });
  const tabs = shareAcrossTabs(client, { name, schedule: { debounceMs: 300 } });
  return {
    userId,
    client,
    tabs,
    async close() {
      await tabs.close();
      await client.close();
    },
  };
}

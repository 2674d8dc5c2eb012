/**
 * Helpers for end-to-end tests of the client's scheduler: a client that syncs by itself on a
 * manual clock (time moves only when the test says so; HTTP to the real server is real), with
 * its requests recorded.
 */
import { vi } from 'vitest';
import {
  createManualClock,
  createSeededRandom,
  type ClientOptions,
  type ClientStatus,
  type FerryClient,
  type LogEntry,
  type ManualClock,
} from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { pathOf, type Harness } from './ferry-harness.js';

/** A client with autoSync on a manual clock. */
export interface AutoClient {
  readonly client: FerryClient<TodoSchema>;
  readonly clock: ManualClock;
  /** `METHOD /path` of every request the engine and the events stream made, in order. */
  readonly requests: string[];
  /** Every status the client published. */
  readonly statuses: ClientStatus[];
  readonly logs: LogEntry[];
  /** Pushes sent: `POST /v1/push` and `POST /v1/sync` requests. */
  pushes(): number;
}

/** Waits (in real time: the server works in real time) until `check` passes. */
export function until(check: () => unknown, timeout = 10_000): Promise<void> {
  return vi.waitFor(async () => void (await check()), { timeout, interval: 5 });
}

/**
 * A client of `harness` with `autoSync` on a manual clock that starts at the real time (so
 * timestamps look real) and a seeded random source. `options` may replace anything, `fetch`
 * included (it is still recorded).
 */
export async function autoClient(
  harness: Harness,
  name: string,
  options: Partial<ClientOptions<TodoSchema>> = {},
  userId = 'alice',
): Promise<AutoClient> {
  const clock = createManualClock(Date.now());
  const requests: string[] = [];
  const statuses: ClientStatus[] = [];
  const logs: LogEntry[] = [];
  const inner = options.fetch ?? fetch;
  const client = await harness.client(name, userId, {
    autoSync: {},
    clock,
    random: createSeededRandom(1),
    onLog: (entry) => logs.push(entry),
    ...options,
    fetch: (input, init) => {
      requests.push(`${init?.method ?? 'GET'} ${pathOf(input)}`);
      return inner(input, init);
    },
  });
  client.subscribe((event) => {
    if (event.type === 'status') statuses.push(event.status);
  });
  return {
    client,
    clock,
    requests,
    statuses,
    logs,
    pushes: () => requests.filter((r) => r === 'POST /v1/push' || r === 'POST /v1/sync').length,
  };
}

/** Waits until the client has finished its first cycle and nothing runs. */
export async function settled(auto: AutoClient): Promise<void> {
  await until(() => {
    const status = auto.client.status;
    if (status.lastSyncAt === null || status.cycle !== null || status.state !== 'idle') {
      throw new Error(`not settled: ${status.state}, cycle ${JSON.stringify(status.cycle)}`);
    }
  });
}

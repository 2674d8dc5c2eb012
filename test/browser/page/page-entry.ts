/**
 * The page the browser tests load: the client's browser driver and engine, reachable from a
 * test through `window.ferryTest` (playwright's `page.evaluate`).
 */
import { isFerryError } from '@ferry/protocol';
import {
  createClient,
  shareAcrossTabs,
  type FerryClient,
  type SqliteDriver,
  type TabGroup,
} from '@ferry/client';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { projectSchema } from '../../support/project-schema.js';
import { waSqliteWorkerDriver, type BrowserStorage } from '@ferry/client/wa-sqlite';
import { tag, untag, type Tagged } from './values.js';

type DriverOp = 'run' | 'all' | 'exec' | 'batch' | 'close';

/** A failed call, as a test reads it. */
export interface CallError {
  readonly error: {
    readonly message: string;
    readonly code: string | null;
    readonly ferry: boolean;
  };
}

const drivers = new Map<number, SqliteDriver>();
const clients = new Map<number, FerryClient<TodoSchema>>();
const groups = new Map<number, TabGroup>();
/** Each watch's deliveries (and when each came: epoch ms, sub-ms), by watch id. */
const watches = new Map<number, { results: unknown[][]; at: number[]; stop: () => void }>();

/** Now in epoch milliseconds with sub-millisecond precision, comparable across tabs. */
const epochNow = () => performance.timeOrigin + performance.now();
let nextId = 1;

/** A write of the test, as JSON: what `client.write` does with each. */
type WriteOp =
  | { readonly op: 'insert'; readonly table: string; readonly row: Record<string, unknown> }
  | {
      readonly op: 'update';
      readonly table: string;
      readonly pk: string;
      readonly patch: Record<string, unknown>;
    }
  | { readonly op: 'delete'; readonly table: string; readonly pk: string };

/** What a test can ask of a client in the page (see `ferryTest.client`). */
type ClientCall =
  | { readonly call: 'write'; readonly ops: readonly WriteOp[] }
  | { readonly call: 'query'; readonly sql: string; readonly params?: readonly Tagged[] }
  | { readonly call: 'sync' }
  | { readonly call: 'syncWatched' }
  | { readonly call: 'status' }
  | { readonly call: 'role' }
  | { readonly call: 'watch'; readonly sql: string }
  | { readonly call: 'results'; readonly watch: number }
  | { readonly call: 'deliveredAt'; readonly watch: number }
  | { readonly call: 'writeTimed'; readonly ops: readonly WriteOp[] }
  | { readonly call: 'writeLatency'; readonly count: number; readonly listId: string }
  | { readonly call: 'writeMany'; readonly count: number; readonly listId: string }
  | { readonly call: 'insertTree'; readonly name: string }
  | { readonly call: 'resolveKey'; readonly table: string; readonly key: string | number }
  | { readonly call: 'close' };

const ferryTest = {
  /** Opens database `name` in a new worker; answers (like `call`) with its id and storage. */
  async open(name: string, storage: 'auto' | BrowserStorage = 'auto'): Promise<string> {
    try {
      const worker = new Worker('./worker.js', { type: 'module' });
      const driver = await waSqliteWorkerDriver(worker, {
        name,
        storage,
        wasmUrls: { sync: '/wa-sqlite.wasm', async: '/wa-sqlite-async.wasm' },
      });
      const id = nextId++;
      drivers.set(id, driver);
      return JSON.stringify({ value: { id, storage: driver.storage } });
    } catch (error) {
      return JSON.stringify(failure(error));
    }
  },

  /**
   * Starts a Ferry client of the todo schema on database `name` (wa-sqlite in a worker), with
   * sync run by the test (`autoSync: false`); resolves with its id.
   */
  async startClient(options: {
    name: string;
    url: string;
    token: string;
    storage?: 'auto' | BrowserStorage;
    /** Join the tabs of this database (one leader syncs, with a short schedule). */
    tabs?: boolean;
    /** `projects`: the schema whose keys the server assigns (test/support/project-schema.ts). */
    schema?: 'todo' | 'projects';
  }): Promise<string> {
    try {
      const worker = new Worker('./worker.js', { type: 'module' });
      const driver = await waSqliteWorkerDriver(worker, {
        name: options.name,
        storage: options.storage ?? 'auto',
        wasmUrls: { sync: '/wa-sqlite.wasm', async: '/wa-sqlite-async.wasm' },
      });
      // One map of clients for both schemas: a test names tables of the schema it started.
      const client = (await createClient({
        schema: options.schema === 'projects' ? projectSchema : todoSchema,
        driver,
        url: options.url,
        getToken: () => options.token,
        autoSync: false,
      })) as unknown as FerryClient<TodoSchema>;
      const id = nextId++;
      clients.set(id, client);
      if (options.tabs) {
        groups.set(
          id,
          shareAcrossTabs(client, {
            name: options.name,
            schedule: { debounceMs: 20, maxWaitMs: 200, minIntervalMs: 0 },
          }),
        );
      }
      return JSON.stringify({ value: id });
    } catch (error) {
      return JSON.stringify(failure(error));
    }
  },

  /** Runs a {@link ClientCall} (as JSON) on client `id`; answers like `call`. */
  async client(id: number, callJson: string): Promise<string> {
    const client = clients.get(id);
    if (!client) return JSON.stringify(failure(new Error(`no client ${id}`)));
    const request = JSON.parse(callJson) as ClientCall;
    try {
      let value: unknown;
      switch (request.call) {
        case 'write':
          await client.write((tx) => {
            for (const op of request.ops) {
              const table = op.table as 'todos';
              if (op.op === 'insert') tx.insert(table, op.row);
              else if (op.op === 'update') tx.update(table, op.pk, op.patch);
              else tx.delete(table, op.pk);
            }
          });
          break;
        case 'insertTree': {
          // On the projects schema: a project under a temporary key and two tasks in it.
          const keyed = client as unknown as FerryClient<typeof projectSchema>;
          await keyed.write((tx) => {
            const project = tx.insert('projects', { name: request.name });
            for (const n of [1, 2]) {
              tx.insert('tasks', { project_id: project as number, title: `${request.name}/${n}` });
            }
            value = project;
          });
          break;
        }
        case 'resolveKey':
          value = await (client as unknown as FerryClient<typeof projectSchema>).resolveKey(
            request.table as 'projects',
            request.key,
          );
          break;
        case 'query':
          value = await client.query(request.sql, (request.params ?? []).map(untag) as never);
          break;
        case 'sync': {
          const report = await client.sync();
          value = { pushed: report.pushed, pulled: report.pulled };
          break;
        }
        case 'syncWatched': {
          // A sync while a timer on this (the page's) thread records how often it gets to run.
          const ticks: number[] = [];
          const timer = setInterval(() => ticks.push(performance.now()), 10);
          const started = performance.now();
          const report = await client.sync();
          const ended = performance.now();
          clearInterval(timer);
          const marks = [started, ...ticks, ended];
          let longestGapMs = 0;
          for (let i = 1; i < marks.length; i++) {
            longestGapMs = Math.max(longestGapMs, marks[i]! - marks[i - 1]!);
          }
          value = {
            pulled: report.pulled,
            hydrated: report.hydrated,
            ticks: ticks.length,
            longestGapMs: Math.round(longestGapMs),
            durationMs: Math.round(ended - started),
          };
          break;
        }
        case 'status': {
          const status = await client.readStatus();
          value = { ...status, lastError: status.lastError?.code ?? null };
          break;
        }
        case 'role':
          value = groups.get(id)?.role ?? null;
          break;
        case 'watch': {
          const watchId = nextId++;
          const results: unknown[][] = [];
          const at: number[] = [];
          const stop = client.watch(request.sql, [], (rows) => {
            results.push(rows);
            at.push(epochNow());
          });
          watches.set(watchId, { results, at, stop });
          value = watchId;
          break;
        }
        case 'results':
          value = watches.get(request.watch)?.results ?? null;
          break;
        case 'deliveredAt':
          value = watches.get(request.watch)?.at ?? null;
          break;
        case 'writeTimed': {
          // When the write began (epoch ms): for the latency of a live query in another tab.
          const began = epochNow();
          await client.write((tx) => {
            for (const op of request.ops) {
              if (op.op === 'insert') tx.insert(op.table as 'todos', op.row);
            }
          });
          value = began;
          break;
        }
        case 'writeLatency': {
          // One-row writes, each timed on its own (µs).
          const took: number[] = [];
          for (let i = 0; i < request.count; i++) {
            const started = performance.now();
            await client.write((tx) =>
              tx.insert('todos', {
                id: crypto.randomUUID(),
                list_id: request.listId,
                title: `w${i}`,
              }),
            );
            took.push((performance.now() - started) * 1000);
          }
          value = took;
          break;
        }
        case 'writeMany': {
          for (let done = 0; done < request.count; done += 500) {
            await client.write((tx) => {
              for (let i = done; i < Math.min(request.count, done + 500); i++) {
                tx.insert('todos', {
                  id: crypto.randomUUID(),
                  list_id: request.listId,
                  title: `p${i}`,
                });
              }
            });
          }
          break;
        }
        case 'close':
          await groups.get(id)?.close();
          groups.delete(id);
          await client.close();
          clients.delete(id);
          break;
      }
      return JSON.stringify({ value: tag(value) });
    } catch (error) {
      return JSON.stringify(failure(error));
    }
  },

  /**
   * Calls `op` on driver `id` with arguments in tagged JSON; resolves with the JSON of
   * `{ value }` (tagged) or of a {@link CallError}.
   */
  async call(id: number, op: DriverOp, argsJson: string): Promise<string> {
    const driver = drivers.get(id);
    if (!driver) return JSON.stringify(failure(new Error(`no driver ${id}`)));
    try {
      const args = (JSON.parse(argsJson) as Tagged[]).map(untag) as never[];
      // eslint-disable-next-line @typescript-eslint/unbound-method -- applied to driver below
      const method = driver[op] as (...a: never[]) => Promise<unknown>;
      return JSON.stringify({ value: tag(await method.apply(driver, args)) });
    } catch (error) {
      return JSON.stringify(failure(error));
    }
  },
};

function failure(error: unknown): CallError {
  const code = (error as { code?: unknown } | null)?.code;
  return {
    error: {
      message: error instanceof Error ? error.message : String(error),
      code: typeof code === 'string' ? code : null,
      ferry: isFerryError(error),
    },
  };
}

(globalThis as unknown as { ferryTest: typeof ferryTest }).ferryTest = ferryTest;
export type FerryTest = typeof ferryTest;

/**
 * End-to-end helpers: a real Ferry server on a temporary SQLite file listening on 127.0.0.1, and
 * clients, each with its own SQLite file, talking to it over real HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient, type ClientOptions, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema, type TodoSchema } from '@ferry/example-todo';
import { asSchemaHistory, type Schema, type SchemaHistory } from '@ferry/protocol';
import {
  createFerryServer,
  createSqliteStore,
  signToken,
  type FerryServer,
  type FerryServerOptions,
  type ServerStore,
} from '@ferry/server';

export const SECRET = 'e2e-secret-of-at-least-32-bytes!!!';

export interface Harness<S extends Schema = TodoSchema> {
  readonly dir: string;
  readonly url: string;
  readonly schema: S;
  /** Path of the server's SQLite file (copy it while the server is stopped). */
  readonly serverPath: string;
  server: FerryServer;
  token(userId: string): Promise<string>;
  /** A client with its own file `<name>.db` in the harness directory. */
  client(
    name: string,
    userId?: string,
    options?: Partial<ClientOptions<S>>,
  ): Promise<FerryClient<S>>;
  /** Path of a client's database file. */
  dbPath(name: string): string;
  /** Stops the server and starts it again on the same file (same port is not kept). */
  restartServer(): Promise<void>;
  /** Stops the server: requests to its URL are refused until {@link startServer}. */
  stopServer(): Promise<void>;
  /** Starts the stopped server again on the same file and the same port (the same URL). */
  startServer(): Promise<void>;
  /**
   * Options of the server's next starts: another schema or history (the server migrates its
   * file on start; `schema` becomes the history's newest) or the oldest version it serves.
   */
  setServerOptions(options: {
    readonly schema?: Schema | SchemaHistory;
    readonly oldestSchemaVersion?: number;
  }): void;
  close(): Promise<void>;
}

export interface HarnessOptions<S extends Schema> {
  /** The schema, or a history of versions (the server runs its newest). */
  readonly schema?: S | SchemaHistory;
  /**
   * The server's store, made anew at every start on the same data (default: SQLite in
   * `server.db` of the harness directory).
   */
  readonly store?: (() => ServerStore) | undefined;
  readonly server?: Partial<Omit<FerryServerOptions, 'schema' | 'store' | 'auth'>>;
}

export async function startHarness<S extends Schema = TodoSchema>(
  options: HarnessOptions<S> = {},
): Promise<Harness<S>> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-'));
  let served: Schema | SchemaHistory = options.schema ?? todoSchema;
  let schema = asSchemaHistory(served).latest as S;
  let oldestSchemaVersion: number | undefined;
  const serverPath = join(dir, 'server.db');
  const start = async (port = 0) => {
    const server = await createFerryServer({
      schema: served,
      ...(oldestSchemaVersion !== undefined ? { oldestSchemaVersion } : {}),
      store: options.store?.() ?? createSqliteStore({ path: serverPath }),
      auth: { jwtSecret: SECRET },
      logger: false,
      externalPollMs: 0,
      limits: { rateLimit: false, ...options.server?.limits },
      ...options.server,
    });
    const { url } = await server.listen({ host: '127.0.0.1', port });
    return { server, url };
  };
  let current = await start();
  let stopped = false;
  const tokens = new Map<string, string>();
  const clients: FerryClient<S>[] = [];
  const token = async (userId: string) => {
    let value = tokens.get(userId);
    if (!value) {
      value = await signToken({ secret: SECRET, userId });
      tokens.set(userId, value);
    }
    return value;
  };
  const harness: Harness<S> = {
    dir,
    get url() {
      return current.url;
    },
    get schema() {
      return schema;
    },
    serverPath,
    get server() {
      return current.server;
    },
    set server(value) {
      current.server = value;
    },
    token,
    dbPath: (name) => join(dir, `${name}.db`),
    async client(name, userId = 'alice', clientOptions = {}) {
      const value = await token(userId);
      const client = await createClient<S>({
        schema,
        driver: betterSqlite3Driver(join(dir, `${name}.db`)),
        url: current.url,
        getToken: () => value,
        // Engine tests run every cycle themselves; scheduler tests pass autoSync.
        autoSync: false,
        ...clientOptions,
      });
      clients.push(client);
      return client;
    },
    async restartServer() {
      await current.server.close();
      current = await start();
    },
    async stopServer() {
      if (stopped) return;
      stopped = true;
      await current.server.close();
    },
    async startServer() {
      if (!stopped) return;
      current = await start(Number(new URL(current.url).port));
      stopped = false;
    },
    setServerOptions(next) {
      if (next.schema !== undefined) {
        served = next.schema;
        schema = asSchemaHistory(next.schema).latest as S;
      }
      if (next.oldestSchemaVersion !== undefined) oldestSchemaVersion = next.oldestSchemaVersion;
    },
    async close() {
      for (const client of clients) await client.close().catch(() => undefined);
      if (!stopped) await current.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** Every row of a table on a client, sorted by primary key, as wire values. */
export async function rowsOf<S extends Schema>(
  client: FerryClient<S>,
  table: string,
): Promise<Record<string, unknown>[]> {
  const t = client.schema.requireTable(table);
  const pks = await client.query<{ pk: string | number }>(
    `SELECT "${t.primaryKey}" AS pk FROM "${table}" ORDER BY "${t.primaryKey}"`,
  );
  const rows: Record<string, unknown>[] = [];
  for (const { pk } of pks) rows.push((await client.getRow(table as never, pk))!);
  return rows;
}

/** Every row of a table on the server for a user, via a snapshot over HTTP. */
export async function serverRows(
  harness: Harness<Schema>,
  userId: string,
  table: string,
): Promise<Record<string, unknown>[]> {
  const response = await fetch(`${harness.url}/v1/snapshot`, {
    headers: {
      authorization: `Bearer ${await harness.token(userId)}`,
      'x-ferry-schema': String(harness.schema.version),
    },
  });
  const text = await response.text();
  const t = harness.schema.requireTable(table);
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as { table?: string; row?: Record<string, unknown> })
    .filter((line) => line.table === table)
    .map((line) => line.row!)
    .sort((a, b) => String(a[t.primaryKey]).localeCompare(String(b[t.primaryKey])));
}

/** A lower-case UUID. */
export function uuid(): string {
  return globalThis.crypto.randomUUID();
}

/** A token signed with another secret (or other claims), for auth failure tests. */
export function signedToken(userId: string, options: { secret?: string } = {}): Promise<string> {
  return signToken({ secret: options.secret ?? SECRET, userId });
}

/** The path of a fetch input (for fetch wrappers that count or record requests). */
export function pathOf(input: Parameters<typeof fetch>[0]): string {
  const href = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return new URL(href).pathname;
}

/**
 * Test helpers: a server on a temporary SQLite file (or on fresh PostgreSQL schemas), tokens,
 * and small typed request helpers that go either in-process (the fetch handler) or over real
 * HTTP on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema, type Change, type Schema } from '@ferry/protocol';
import { signToken } from '../auth.js';
import { createFerryServer, type FerryServer, type FerryServerOptions } from '../ferry-server.js';
import type { ServerStore } from '../store/server-store.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { dumpState } from './state.js';

export const TEST_SECRET = 'test-secret-of-at-least-32-bytes!!';

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix = 'ferry-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The stores a test server can run on. */
export type TestStoreKind = 'sqlite' | 'postgres';

export interface TestServer {
  readonly server: FerryServer;
  readonly storeKind: TestStoreKind;
  /** The SQLite file ('' on PostgreSQL). */
  readonly dbPath: string;
  /** Base URL when listening over HTTP, else `http://ferry.test` (in-process). */
  readonly url: string;
  token(userId: string): Promise<string>;
  /** A request to the server: over HTTP when `http` was set, else in-process. */
  request(path: string, init?: RequestInit & { user?: string; json?: unknown }): Promise<Response>;
  /** Every row of every table of the store, as one comparable string. */
  dumpState(): Promise<string>;
  /** Restarts the server on the same data (same options, but `overrides`). */
  restart(overrides?: Partial<TestServerOptions>): Promise<TestServer>;
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<Omit<FerryServerOptions, 'store'>> {
  readonly http?: boolean;
  /** Default 'sqlite'. */
  readonly store?: TestStoreKind;
  readonly dbPath?: string;
  /** PostgreSQL: the schemas to reuse (a restart); default fresh ones. */
  readonly pgSchemas?: { readonly business: string; readonly meta: string; drop(): Promise<void> };
}

/**
 * Starts a server on a fresh temporary SQLite file (or `dbPath`), or with `store: 'postgres'`
 * on fresh PostgreSQL schemas (dropped by `close`).
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  if (options.store === 'postgres') return startPostgresTestServer(options);
  const temp = options.dbPath ? undefined : tempDir();
  const dbPath = options.dbPath ?? join(temp!.dir, 'ferry.db');
  return serveWith(options, 'sqlite', createSqliteStore({ path: dbPath }), {
    dbPath,
    dumpState: async () => dumpState(dbPath),
    restart: (overrides = {}) => startTestServer({ ...options, ...overrides, dbPath }),
    cleanup: async () => temp?.cleanup(),
  });
}

async function startPostgresTestServer(options: TestServerOptions): Promise<TestServer> {
  // Loaded only here, so SQLite-only tests never touch pg.
  const pg = await import('../store/postgres/test-support/pg-test-database.js');
  const { createPostgresStore } = await import('../store/postgres/postgres-store.js');
  const schemas = options.pgSchemas ?? pg.testSchemas();
  const store = createPostgresStore({
    connectionString: pg.DATABASE_URL,
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 4 },
  });
  return serveWith(options, 'postgres', store, {
    dbPath: '',
    dumpState: () => pg.dumpPgState(schemas),
    restart: (overrides = {}) => startTestServer({ ...options, ...overrides, pgSchemas: schemas }),
    cleanup: () => schemas.drop(),
  });
}

async function serveWith(
  options: TestServerOptions,
  storeKind: TestStoreKind,
  store: ServerStore,
  data: {
    dbPath: string;
    dumpState: () => Promise<string>;
    restart: (overrides?: Partial<TestServerOptions>) => Promise<TestServer>;
    cleanup: () => Promise<void>;
  },
): Promise<TestServer> {
  const server = await createFerryServer({
    schema: options.schema ?? todoSchema,
    auth: options.auth ?? { jwtSecret: TEST_SECRET },
    logger: options.logger ?? false,
    externalPollMs: options.externalPollMs ?? 0,
    ...options,
    store,
  });
  const url = options.http
    ? (await server.listen({ host: '127.0.0.1', port: 0 })).url
    : 'http://ferry.test';
  const tokens = new Map<string, string>();
  const token = async (userId: string) => {
    let t = tokens.get(userId);
    if (!t) {
      t = await signToken({ secret: TEST_SECRET, userId });
      tokens.set(userId, t);
    }
    return t;
  };
  const testServer: TestServer = {
    server,
    storeKind,
    dbPath: data.dbPath,
    url,
    token,
    async request(path, init = {}) {
      const { user, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (user !== undefined) headers.set('authorization', `Bearer ${await token(user)}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      // A request says the schema version it runs, as clients do: the server's newest, unless
      // the test names one (an empty value: no header, a client from before versions).
      const version = headers.get('x-ferry-schema');
      if (version === null) headers.set('x-ferry-schema', String(server.schema.version));
      else if (version === '') headers.delete('x-ferry-schema');
      const request = new Request(url + path, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
      return options.http ? fetch(request) : server.handler(request);
    },
    dumpState: data.dumpState,
    async restart(overrides) {
      await server.close();
      return data.restart(overrides);
    },
    async close() {
      await server.close();
      await data.cleanup();
    },
  };
  return testServer;
}

/** A push body. */
export function pushBody(sourceId: string, sourceBundleId: number, changes: readonly Change[]) {
  return { protocol: 1, sourceId, sourceBundleId, changes };
}

/** Rows of the example schema. */
export const todo = {
  list(id: string = randomUUID(), name = 'Groceries', baseVersion: number | null = null): Change {
    return { table: 'lists', pk: id, op: 'upsert', baseVersion, row: { id, name } };
  },
  item(
    listId: string,
    id: string = randomUUID(),
    title = 'milk',
    baseVersion: number | null = null,
  ): Change {
    return {
      table: 'todos',
      pk: id,
      op: 'upsert',
      baseVersion,
      row: { id, list_id: listId, title, done: false, position: 1 },
    };
  },
  remove(table: 'lists' | 'todos', pk: string, baseVersion: number | null): Change {
    return { table, pk, op: 'delete', baseVersion };
  },
};

/** The example schema, for tests that need it as a plain Schema. */
export const TEST_SCHEMA: Schema = todoSchema;

/**
 * Three tables a ← b ← c: deleting an `a` cascades to its `b`s, whose `c`s restrict the delete.
 * `RESTRICT_CHAIN.created` makes one of each; `RESTRICT_CHAIN.deleteA` (at version 1) must then
 * be refused with `fk_violation`.
 */
export const RESTRICT_CHAIN = (() => {
  const owned = (extra: Record<string, unknown> = {}) => ({
    owner: 'o',
    columns: { id: { type: 'text' as const }, o: { type: 'text' as const }, ...extra },
  });
  const schema = defineSchema({
    tables: {
      a: owned(),
      b: owned({
        a: { type: 'text', notNull: true, references: { table: 'a', onDelete: 'cascade' } },
      }),
      c: owned({
        b: { type: 'text', notNull: true, references: { table: 'b', onDelete: 'restrict' } },
      }),
    },
  });
  const up = (table: string, row: { id: string } & Record<string, unknown>): Change => ({
    table,
    pk: row.id,
    op: 'upsert',
    baseVersion: null,
    row,
  });
  const created: Change[] = [
    up('a', { id: 'a1' }),
    up('b', { id: 'b1', a: 'a1' }),
    up('c', { id: 'c1', b: 'b1' }),
  ];
  const deleteA: Change = { table: 'a', pk: 'a1', op: 'delete', baseVersion: 1 };
  return { schema, created, deleteA };
})();

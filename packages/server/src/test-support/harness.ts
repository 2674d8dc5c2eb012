/**
 * Test helpers: a server on a temporary SQLite file, tokens, and small typed request helpers
 * that go either in-process (the fetch handler) or over real HTTP on 127.0.0.1.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { todoSchema } from '@ferry/example-todo';
import type { Change, Schema } from '@ferry/protocol';
import { signToken } from '../auth.js';
import { createFerryServer, type FerryServer, type FerryServerOptions } from '../ferry-server.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';

export const TEST_SECRET = 'test-secret-of-at-least-32-bytes!!';

/** A temporary directory removed by `cleanup`. */
export function tempDir(prefix = 'ferry-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface TestServer {
  readonly server: FerryServer;
  readonly dbPath: string;
  /** Base URL when listening over HTTP, else `http://ferry.test` (in-process). */
  readonly url: string;
  token(userId: string): Promise<string>;
  /** A request to the server: over HTTP when `http` was set, else in-process. */
  request(path: string, init?: RequestInit & { user?: string; json?: unknown }): Promise<Response>;
  /** Restarts the server on the same file (same options). */
  restart(): Promise<TestServer>;
  close(): Promise<void>;
}

export interface TestServerOptions extends Partial<Omit<FerryServerOptions, 'store'>> {
  readonly http?: boolean;
  readonly dbPath?: string;
}

/** Starts a server on a fresh temporary SQLite file (or `dbPath`). */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const temp = options.dbPath ? undefined : tempDir();
  const dbPath = options.dbPath ?? join(temp!.dir, 'ferry.db');
  const server = await createFerryServer({
    schema: options.schema ?? todoSchema,
    auth: options.auth ?? { jwtSecret: TEST_SECRET },
    logger: options.logger ?? false,
    externalPollMs: options.externalPollMs ?? 0,
    ...options,
    store: createSqliteStore({ path: dbPath }),
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
    dbPath,
    url,
    token,
    async request(path, init = {}) {
      const { user, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (user !== undefined) headers.set('authorization', `Bearer ${await token(user)}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      const request = new Request(url + path, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
      return options.http ? fetch(request) : server.handler(request);
    },
    async restart() {
      await server.close();
      return startTestServer({ ...options, dbPath });
    },
    async close() {
      await server.close();
      temp?.cleanup();
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

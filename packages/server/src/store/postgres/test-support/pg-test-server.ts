/**
 * Ferry servers on the PostgreSQL store for tests, listening on 127.0.0.1, and an SSE reader.
 */
import { todoSchema } from '@ferry/example-todo';
import type { Schema } from '@ferry/protocol';
import { signToken } from '../../../auth.js';
import {
  createFerryServer,
  type FerryServer,
  type FerryServerOptions,
} from '../../../ferry-server.js';
import { TEST_SECRET } from '../../../test-support/harness.js';
import { createPostgresStore, type PostgresStoreOptions } from '../postgres-store.js';
import { DATABASE_URL, type TestSchemas } from './pg-test-database.js';

export interface PgTestServer {
  readonly server: FerryServer;
  readonly url: string;
  request(path: string, init?: RequestInit & { user?: string; json?: unknown }): Promise<Response>;
  close(): Promise<void>;
}

/** A server instance on the given schemas (several may share them). */
export async function startPgServer(
  schemas: TestSchemas,
  options: {
    store?: Partial<PostgresStoreOptions>;
    server?: Partial<Omit<FerryServerOptions, 'store' | 'schema' | 'auth'>>;
    schema?: Schema;
  } = {},
): Promise<PgTestServer> {
  const server = await createFerryServer({
    schema: options.schema ?? todoSchema,
    store: createPostgresStore({
      connectionString: DATABASE_URL,
      schemaName: schemas.meta,
      businessSchema: schemas.business,
      pool: { max: 4 },
      ...options.store,
    }),
    auth: { jwtSecret: TEST_SECRET },
    logger: false,
    limits: { rateLimit: false },
    ...options.server,
  });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    server,
    url,
    async request(path, init = {}) {
      const { user, json, ...rest } = init;
      const headers = new Headers(rest.headers);
      if (user !== undefined) headers.set('authorization', `Bearer ${await tokenFor(user)}`);
      if (json !== undefined) headers.set('content-type', 'application/json');
      return fetch(url + path, {
        ...rest,
        headers,
        ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
      });
    },
    close: () => server.close(),
  };
}

const tokens = new Map<string, string>();

/** A token of the test secret for `userId`. */
export async function tokenFor(userId: string): Promise<string> {
  let token = tokens.get(userId);
  if (!token) {
    token = await signToken({ secret: TEST_SECRET, userId });
    tokens.set(userId, token);
  }
  return token;
}

/** An open `GET /v1/events` stream, read as text. */
export interface EventStream {
  /** Resolves once the text received so far contains `needle`. */
  waitFor(needle: string, timeoutMs?: number): Promise<string>;
  readonly text: string;
  close(): void;
}

export async function openEvents(url: string, userId: string): Promise<EventStream> {
  const controller = new AbortController();
  const response = await fetch(`${url}/v1/events`, {
    headers: { authorization: `Bearer ${await tokenFor(userId)}` },
    signal: controller.signal,
  });
  if (response.status !== 200) throw new Error(`events answered ${response.status}`);
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  let waiters: { needle: string; resolve: (text: string) => void }[] = [];
  void (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        waiters = waiters.filter((w) => {
          if (!text.includes(w.needle)) return true;
          w.resolve(text);
          return false;
        });
      }
    } catch {
      // aborted
    }
  })();
  return {
    get text() {
      return text;
    },
    waitFor(needle, timeoutMs = 10_000) {
      if (text.includes(needle)) return Promise.resolve(text);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () =>
            reject(new Error(`no ${needle} within ${timeoutMs} ms; got ${JSON.stringify(text)}`)),
          timeoutMs,
        );
        waiters.push({
          needle,
          resolve: (t) => {
            clearTimeout(timer);
            resolve(t);
          },
        });
      });
    },
    close: () => controller.abort(),
  };
}

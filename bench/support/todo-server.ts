/**
 * A Ferry server with the example schema on a temporary SQLite file or on fresh PostgreSQL
 * schemas, and a client that pushes todos to it over HTTP on loopback. For server benches.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { todoSchema } from '@ferry/example-todo';
import {
  createFerryServer,
  createSqliteStore,
  signToken,
  type FerryServer,
  type ServerStore,
} from '@ferry/server';
import { createPostgresStore } from '@ferry/server/postgres';
import { benchDatabaseUrl, dropPgSchemas, freshPgSchemas, type PgSchemas } from './pg.js';

export const BENCH_SECRET = 'bench-secret-bench-secret-bench!';

/** The stores a bench server can run on. */
export type BenchStore = 'sqlite' | 'postgres';

export interface BenchServer {
  readonly server: FerryServer;
  readonly url: string;
  readonly store: BenchStore;
  /** The SQLite file ('' on PostgreSQL). */
  readonly dbPath: string;
  readonly token: string;
  close(): Promise<void>;
}

export interface BenchServerOptions {
  /** Default 'sqlite'. */
  readonly store?: BenchStore;
  /** SQLite: the file (default a fresh temporary one). */
  readonly dbPath?: string;
  /** PostgreSQL: schemas shared with other instances (default fresh ones, dropped on close). */
  readonly pgSchemas?: PgSchemas;
  /** PostgreSQL: connections of this instance's pool (default 10). */
  readonly pgPoolMax?: number;
  /** Let browser pages of any origin call the server (the browser bench). */
  readonly cors?: '*';
  /** PostgreSQL: how long a request may wait for a pooled connection (default the store's 5 s). */
  readonly pgConnectionTimeoutMs?: number;
}

/** Starts a server listening on 127.0.0.1; a string is a SQLite file path (as before). */
export async function startBenchServer(
  options: BenchServerOptions | string = {},
): Promise<BenchServer> {
  const opts: BenchServerOptions = typeof options === 'string' ? { dbPath: options } : options;
  const kind = opts.store ?? 'sqlite';
  let store: ServerStore;
  let dbPath = '';
  let cleanup: () => Promise<void>;
  if (kind === 'postgres') {
    const schemas = opts.pgSchemas ?? freshPgSchemas();
    store = createPostgresStore({
      connectionString: benchDatabaseUrl(),
      schemaName: schemas.meta,
      businessSchema: schemas.business,
      pool: {
        max: opts.pgPoolMax ?? 10,
        ...(opts.pgConnectionTimeoutMs !== undefined
          ? { connectionTimeoutMillis: opts.pgConnectionTimeoutMs }
          : {}),
      },
    });
    cleanup = async () => {
      if (!opts.pgSchemas) await dropPgSchemas(schemas);
    };
  } else {
    const dir = opts.dbPath ? undefined : mkdtempSync(join(tmpdir(), 'ferry-bench-'));
    dbPath = opts.dbPath ?? join(dir!, 'ferry.db');
    store = createSqliteStore({ path: dbPath });
    cleanup = async () => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    };
  }
  const server = await createFerryServer({
    schema: todoSchema,
    store,
    auth: { jwtSecret: BENCH_SECRET },
    logger: false,
    limits: { rateLimit: false, maxPullLimit: 100_000 },
    ...(opts.cors ? { cors: { origins: opts.cors } } : {}),
  });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  const token = await signToken({ secret: BENCH_SECRET, userId: 'bench-user' });
  return {
    server,
    url,
    store: kind,
    dbPath,
    token,
    async close() {
      await server.close();
      await cleanup();
    },
  };
}

/** Bodies of `rows` todos (plus their list in the first bundle) in bundles of `bundleSize`. */
export function todoBundles(rows: number, bundleSize: number): string[] {
  const sourceId = randomUUID();
  const listId = randomUUID();
  const bodies: string[] = [];
  for (let start = 0, id = 1; start < rows; start += bundleSize, id++) {
    const changes: unknown[] = [];
    if (start === 0) {
      changes.push({
        table: 'lists',
        pk: listId,
        op: 'upsert',
        baseVersion: null,
        row: { id: listId, name: 'bench' },
      });
    }
    for (let i = start; i < Math.min(rows, start + bundleSize); i++) {
      const todoId = randomUUID();
      changes.push({
        table: 'todos',
        pk: todoId,
        op: 'upsert',
        baseVersion: null,
        row: {
          id: todoId,
          list_id: listId,
          title: `todo number ${i}`,
          done: i % 3 === 0,
          position: i,
        },
      });
    }
    bodies.push(JSON.stringify({ protocol: 1, sourceId, sourceBundleId: id, changes }));
  }
  return bodies;
}

/** Pushes prepared bodies one after another; returns the rows committed. */
export async function pushAll(
  url: string,
  token: string,
  bodies: readonly string[],
): Promise<number> {
  let rows = 0;
  for (const body of bodies) {
    const response = await fetch(`${url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body,
    });
    const text = await response.text();
    if (response.status !== 200)
      throw new Error(`push failed: ${response.status} ${text.slice(0, 500)}`);
    rows += (JSON.parse(text) as { rows: unknown[] }).rows.length;
  }
  return rows;
}

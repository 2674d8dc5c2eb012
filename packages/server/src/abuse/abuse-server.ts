/**
 * A Ferry server for the abuse suite, on either store, listening on 127.0.0.1, with its store
 * wrapped in a {@link TrackedStore} and a check that proves the server holds nothing for a
 * request that is gone: no snapshot reader, no read transaction pinning the SQLite WAL, no
 * PostgreSQL connection checked out.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { vi } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { signToken } from '../auth.js';
import { createFerryServer, type FerryServer, type FerryServerOptions } from '../ferry-server.js';
import type { FerryLogger } from '../logger.js';
import type { ServerStore } from '../store/server-store.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { TEST_SECRET, pushBody, tempDir, todo } from '../test-support/harness.js';
import { trackStore, type TrackedStore } from './tracked-store.js';

/** The stores the abuse suite runs on. */
export type AbuseStoreKind = 'sqlite' | 'postgres';

export interface AbuseServer {
  readonly kind: AbuseStoreKind;
  readonly server: FerryServer;
  readonly store: TrackedStore;
  readonly url: string;
  token(userId: string): Promise<string>;
  /** `fetch` to the server, with a token for `user` and a JSON body when given. */
  request(path: string, init?: RequestInit & { user?: string; json?: unknown }): Promise<Response>;
  /** Pushes one new list for `user` from a fresh source; expects 200. */
  pushList(user: string): Promise<void>;
  /**
   * Waits (up to `timeoutMs`, default 5,000) until the server holds nothing for requests that
   * are gone: no open snapshot reader, and on SQLite a checkpoint that no reader blocks, on
   * PostgreSQL no connection of the server that is not idle.
   */
  released(timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export type AbuseServerOptions = Partial<Omit<FerryServerOptions, 'store' | 'schema' | 'auth'>> & {
  /** PostgreSQL pool size (default 4). */
  readonly poolMax?: number;
};

/** One line a {@link recordingLogger} received. */
export interface LogLine {
  readonly level: 'info' | 'warn' | 'error';
  readonly msg: string | undefined;
  readonly fields: Record<string, unknown>;
}

/** A logger that keeps every line, for tests that check what the server logs. */
export function recordingLogger(): { logger: FerryLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at =
    (level: LogLine['level']) =>
    (object: object, msg?: string): void => {
      lines.push({ level, msg, fields: object as Record<string, unknown> });
    };
  return { logger: { info: at('info'), warn: at('warn'), error: at('error') }, lines };
}

/** Starts a server on a fresh SQLite file or fresh PostgreSQL schemas. */
export async function startAbuseServer(
  kind: AbuseStoreKind,
  options: AbuseServerOptions = {},
): Promise<AbuseServer> {
  const { poolMax = 4, ...serverOptions } = options;
  let inner: ServerStore;
  let released: () => Promise<void>;
  let cleanup: () => Promise<void>;
  if (kind === 'sqlite') {
    const temp = tempDir('ferry-abuse-');
    const path = join(temp.dir, 'ferry.db');
    inner = createSqliteStore({ path });
    released = async () => {
      // New WAL frames first: a reader pinned on an older state then blocks the checkpoint.
      await pushList('wal-probe');
      const db = new Database(path);
      try {
        db.pragma('busy_timeout = 0');
        const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
        if (result!.busy !== 0) throw new Error('a read transaction still pins the WAL');
      } finally {
        db.close();
      }
    };
    cleanup = async () => temp.cleanup();
  } else {
    const pg = await import('../store/postgres/test-support/pg-test-database.js');
    const { createPostgresStore } = await import('../store/postgres/postgres-store.js');
    const schemas = pg.testSchemas();
    inner = createPostgresStore({
      connectionString: pg.DATABASE_URL,
      schemaName: schemas.meta,
      businessSchema: schemas.business,
      pool: { max: poolMax },
    });
    released = async () => {
      const rows = await pg.adminQuery(
        "SELECT count(*)::int AS busy FROM pg_stat_activity WHERE application_name = $1 AND state <> 'idle'",
        [`ferry:${schemas.meta}`],
      );
      const busy = rows[0]!.busy as number;
      if (busy !== 0) throw new Error(`${busy} connections of the server are not idle`);
    };
    cleanup = () => schemas.drop();
  }
  const store = trackStore(inner);
  const server = await createFerryServer({
    schema: todoSchema,
    store,
    auth: { jwtSecret: TEST_SECRET },
    logger: false,
    externalPollMs: 0,
    ...serverOptions,
    limits: { rateLimit: false, ...serverOptions.limits },
  });
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  const tokens = new Map<string, string>();
  const token = async (userId: string) => {
    let value = tokens.get(userId);
    if (value === undefined) {
      value = await signToken({ secret: TEST_SECRET, userId });
      tokens.set(userId, value);
    }
    return value;
  };
  const request: AbuseServer['request'] = async (path, init = {}) => {
    const { user, json, ...rest } = init;
    const headers = new Headers(rest.headers);
    if (user !== undefined) headers.set('authorization', `Bearer ${await token(user)}`);
    if (json !== undefined) headers.set('content-type', 'application/json');
    return fetch(url + path, {
      ...rest,
      headers,
      ...(json !== undefined ? { body: JSON.stringify(json) } : {}),
    });
  };
  const pushList = async (user: string) => {
    const response = await request('/v1/push', {
      method: 'POST',
      user,
      json: pushBody(randomUUID(), 1, [todo.list()]),
    });
    const text = await response.text();
    if (response.status !== 200) throw new Error(`push answered ${response.status}: ${text}`);
  };
  return {
    kind,
    server,
    store,
    url,
    token,
    request,
    pushList,
    async released(timeoutMs = 5_000) {
      await vi.waitFor(
        async () => {
          if (store.openSnapshots !== 0) {
            throw new Error(`${store.openSnapshots} snapshot readers are still open`);
          }
          await released();
        },
        { timeout: timeoutMs, interval: 50 },
      );
    },
    async close() {
      await server.close();
      await cleanup();
    },
  };
}

/**
 * `@ferry/server/postgres`: the PostgreSQL store. Business tables are real PostgreSQL tables,
 * sync metadata lives in its own schema, writes from anywhere (pushes, backend code, plain SQL)
 * are captured by triggers, and any number of server instances share one database, poking each
 * other's event streams through LISTEN/NOTIFY. See docs/postgres.md.
 *
 * @example
 * import { createFerryServer } from '@ferry/server';
 * import { createPostgresStore } from '@ferry/server/postgres';
 *
 * const server = await createFerryServer({
 *   schema,
 *   store: createPostgresStore({ connectionString: 'postgres://127.0.0.1:5432/app' }),
 *   auth: { jwtSecret: process.env.FERRY_JWT_SECRET! },
 * });
 *
 * @module
 */
export { createPostgresStore } from './postgres-store.js';
export type {
  PostgresPoolOptions,
  PostgresStoreEvent,
  PostgresStoreOptions,
  PostgresStoreTestHooks,
} from './postgres-store.js';
export type { AdoptProgress } from './postgres-adopt.js';
export type { AdoptMismatch, AdoptMismatchKind } from './adopt-check.js';

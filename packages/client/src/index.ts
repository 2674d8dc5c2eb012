/**
 * `@ferry/client`: the Ferry client engine. The app reads and writes its local SQLite database;
 * Ferry captures every change to a synced table with triggers, pushes them as exactly-once
 * bundles, pulls and applies what other devices and the backend wrote, resolves conflicts,
 * dead-letters what the server refuses, and checks references before it commits a page.
 *
 * Drivers are subpath exports: `@ferry/client/better-sqlite3` for Node and Electron.
 *
 * @example
 * import { createClient } from '@ferry/client';
 * import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
 *
 * const client = await createClient({
 *   schema: todoSchema,
 *   driver: betterSqlite3Driver('./todos.db'),
 *   url: 'http://127.0.0.1:8787',
 *   getToken: () => token,
 * });
 * await client.write((tx) => tx.insert('lists', { id: crypto.randomUUID(), name: 'Inbox' }));
 * const report = await client.sync();
 * await client.close();
 *
 * @module
 */
export { createClient, subjectOf } from './ferry-client.js';
export type { ClientEvent, FerryClient, RunCycleOptions } from './ferry-client.js';
export { HOOK_POINTS } from './types.js';
export type {
  ClientHooks,
  ClientOptions,
  ClientState,
  ClientStatus,
  ConflictChoice,
  ConflictReport,
  DeadLetter,
  DeadLetterReport,
  GetTokenOptions,
  HookPoint,
  InFlightStatus,
  ManualConflict,
  ResolverSetting,
  SyncKind,
  SyncOptions,
  SyncReport,
} from './types.js';
export type { InsertRow, RowPatch, WriteTransaction } from './write-transaction.js';
export type { IntegrityViolation } from './apply/integrity-gate.js';
export type {
  RunResult,
  SqlRow,
  SqlStatement,
  SqlValue,
  SqliteDriver,
} from './driver/sqlite-driver.js';

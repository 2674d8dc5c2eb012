/**
 * `@ferry/client`: the Ferry client engine. The app reads and writes its local SQLite database;
 * Ferry captures every change to a synced table with triggers, pushes them as exactly-once
 * bundles, pulls and applies what other devices and the backend wrote, resolves conflicts,
 * dead-letters what the server refuses, and checks references before it commits a page. A
 * scheduler runs all that in the background: after local writes (debounced), on server pokes
 * (`GET /v1/events`), periodically and on reconnect, with backoff, a circuit breaker and one
 * observable status.
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
 * client.subscribe((event) => {
 *   if (event.type === 'status') showSyncState(event.status); // state, pending, lastError, …
 *   if (event.type === 'remote-change') rerender(event.tables);
 * });
 * await client.write((tx) => tx.insert('lists', { id: crypto.randomUUID(), name: 'Inbox' }));
 * // pushed about 2 s later by itself; or at once:
 * await client.syncNow();
 * await client.close();
 *
 * @module
 */
export { createClient, subjectOf } from './ferry-client.js';
export { shareAcrossTabs } from './tabs/tab-sync.js';
export type { ChangedRows, DerivedState, DerivedTransaction } from './apply/derived-state.js';
export type {
  ShareAcrossTabsOptions,
  SharedStatus,
  TabChannel,
  TabGroup,
  TabLocks,
  TabMessage,
  TabRole,
} from './tabs/tab-sync.js';
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
  RealtimeOptions,
  ResolverSetting,
  SettledConflict,
  SettledConflictsQuery,
  SyncKind,
  SyncNowResult,
  SyncOptions,
  SyncReport,
  UnsafeClientFaults,
} from './types.js';
export { createManualClock, createSystemClock } from './scheduler/clock.js';
export type {
  Clock,
  ManualClock,
  SystemClockOptions,
  TimerId,
  TimerWhen,
} from './scheduler/clock.js';
export { createSeededRandom } from './scheduler/seeded-random.js';
export { DEFAULT_SYNC_SCHEDULE } from './scheduler/sync-schedule.js';
export type { SyncScheduleOptions, SyncScheduleOverrides } from './scheduler/sync-schedule.js';
export { DEFAULT_BACKOFF } from './scheduler/backoff.js';
export type { BackoffOptions } from './scheduler/backoff.js';
export { FAILURE_CLASSES, classifyFailure } from './scheduler/classify-failure.js';
export type { Failure, FailureClass } from './scheduler/classify-failure.js';
export { SYNC_METRIC_NAMES } from './scheduler/sync-status.js';
export type { SyncMetricName, SyncMetrics } from './scheduler/sync-status.js';
export { SYNC_STATE_NAMES } from './scheduler/sync-state-machine.js';
export type {
  ActiveCycle,
  AuthState,
  CircuitState,
  CycleKind,
  FailureRecord,
  SyncStateName,
} from './scheduler/sync-state-machine.js';
export type { LogEntry, LogLevel } from './scheduler/log-entry.js';
export type { InsertRow, RowPatch, WriteTransaction } from './write-transaction.js';
export type { IntegrityViolation } from './apply/integrity-gate.js';
export type {
  RunResult,
  SqlRow,
  SqlStatement,
  SqlValue,
  SqliteDriver,
} from './driver/sqlite-driver.js';

/**
 * `@ferry/server`: the Ferry sync server. A framework-agnostic fetch handler for protocol v1
 * (push, pull, sync, snapshot, events, healthz, metrics), a Node listener, HS256 auth, the
 * backend write API, and the stores behind the {@link ServerStore} interface (embedded SQLite
 * here; PostgreSQL as `@ferry/server/postgres`).
 *
 * @example
 * import { createFerryServer, createSqliteStore, signToken } from '@ferry/server';
 *
 * const server = await createFerryServer({
 *   schema,
 *   store: createSqliteStore({ path: './ferry-data/ferry.db' }),
 *   auth: { jwtSecret: 'secret' },
 * });
 * const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
 * const token = await signToken({ secret: 'secret', userId: 'alice' });
 *
 * @module
 */
export { createFerryServer } from './ferry-server.js';
export type {
  EventOptions,
  FerryServer,
  FerryServerOptions,
  LimitOptions,
  RetentionOptions,
} from './ferry-server.js';

export type {
  ChangeHook,
  CommittingBundle,
  HookChange,
  HookContext,
  HookReader,
  HookRefusal,
  HookVerdict,
  ServerHooks,
  TableHooks,
  TokenClaims,
} from './core/server-hooks.js';
export { RESERVED_REFUSAL_CODES, hookChangeOf, readVerdict } from './core/judge-changes.js';
export type { HookName, RefusedChange, VerdictReading } from './core/judge-changes.js';
export { serverHooksProblem } from './core/check-server-hooks.js';

export { bearerToken, createAuthenticator, signToken } from './auth.js';
export type {
  AuthOptions,
  Authenticator,
  Identity,
  JwksAuthOptions,
  SignTokenOptions,
} from './auth.js';

export { createSqliteStore } from './store/sqlite/sqlite-store.js';
export type { SqliteStoreOptions } from './store/sqlite/sqlite-store.js';
export type {
  BackendWriteTx,
  CommittedBundle,
  PruneOutcome,
  PullInput,
  PullOutcome,
  PushInput,
  PushOutcome,
  ServerStore,
  StoreMigrationPlan,
  SnapshotReader,
  StoreRejection,
  SyncOutcome,
  WriteOutcome,
} from './store/server-store.js';

// The pure protocol decisions every store reuses.
export { validateChanges, rowKey } from './core/validate-changes.js';
export type { ChangeValidation, NormalizedChange } from './core/validate-changes.js';
export { decidePush, decideSourceBundle, pushLookups } from './core/decide-push.js';
export { decideCursor } from './core/decide-cursor.js';
export { defaultPushRules, runPush } from './core/run-push.js';
export type {
  DecidedPush,
  LockedSource,
  PushRules,
  PushRun,
  PushTx,
  SealedPush,
  StoredSource,
} from './core/run-push.js';
export type { CursorDecision, CursorState, PullCursor } from './core/decide-cursor.js';
export { genesisToken, nextHistoryToken } from './core/history-token.js';
export type { TokenedBundle } from './core/history-token.js';
export type {
  ConflictDraft,
  ForbiddenChange,
  PushDecision,
  PushDecisionInput,
  PushLookups,
  ReferencingChild,
  RestrictCheck,
  RowRef,
  RowState,
  SourceBundleDecision,
  SourceState,
} from './core/decide-push.js';
export { planBundles } from './core/plan-bundles.js';
export type {
  BundlePlan,
  CapturedRow,
  PlannedBundle,
  PlannedRowState,
} from './core/plan-bundles.js';
export { fitsOnPage } from './core/page-bundles.js';
export { decidePruneThrough } from './core/decide-retention.js';
export type { RetentionPolicy, RetentionState } from './core/decide-retention.js';
export {
  committedPushResultJson,
  conflictPushResultJson,
  pullResponseJson,
  pushResponseJson,
  snapshotHeaderJson,
  syncResponseJson,
} from './core/wire-json.js';
export type { PullPage, SnapshotHead, StoredBundle } from './core/wire-json.js';

export { listenNode } from './http/node-adapter.js';
export type { FetchHandler, ListenOptions, NodeListener } from './http/node-adapter.js';
export { CONNECTION_DEFAULTS } from './http/connection-options.js';
export type { ConnectionOptions } from './http/connection-options.js';
export { withCors } from './http/cors.js';
export type { CorsOptions } from './http/cors.js';
export { REDACTED_PATHS } from './logger.js';
export type { FerryLogger } from './logger.js';
export type { ServerMetrics } from './metrics.js';
export type { RateLimit } from './rate-limiter.js';
export { MAX_USER_ID_LENGTH, checkUserId } from './core/user-id.js';
export type { UserIdCheck } from './core/user-id.js';

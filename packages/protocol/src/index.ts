/**
 * `@ferry/protocol`: the contract between a Ferry client and server. Wire types with their
 * runtime validation, the schema declaration and its relation graph, the error-code table, and
 * pure decision functions shared by both sides. Runs in Node and in browsers.
 *
 * @module
 */
export {
  FerryError,
  LOCAL_ERROR_CODES,
  PROTOCOL_ERRORS,
  PROTOCOL_ERROR_CODES,
  VALIDATION_ERROR_CODES,
  isFerryError,
  isProtocolErrorCode,
  statusOfErrorCode,
} from './errors.js';
export type {
  FerryErrorCode,
  FerryErrorOptions,
  LocalErrorCode,
  ProtocolErrorCode,
  ValidationErrorCode,
} from './errors.js';

export {
  COLUMN_TYPES,
  canonicalTimestamp,
  compareTimestamps,
  characterLength,
  checkColumnValue,
  fromSqliteValue,
  isUuid,
  sqliteTypeOf,
  toSqliteValue,
} from './column-types.js';
export type {
  ColumnType,
  ColumnValueCheck,
  ColumnValueRules,
  JsonValue,
  SqliteValue,
  WireValueOf,
} from './column-types.js';

export {
  BUILTIN_CONFLICT_POLICIES,
  DEFAULT_CONFLICT_POLICY,
  FIELD_MERGE_RULES,
  VALUE_MERGE_RULES,
  ON_DELETE_ACTIONS,
  SERVER_DERIVED_KINDS,
  KEY_ASSIGNMENTS,
  defineSchema,
} from './schema.js';
export { isTemporaryKey, temporaryKey } from './temporary-keys.js';
export type {
  BuiltinConflictPolicy,
  Column,
  ColumnDeclaration,
  ConflictPolicyName,
  FieldMergeRule,
  TableMergeRule,
  FieldMergeWinner,
  OnDeleteAction,
  Reference,
  ReferenceDeclaration,
  Index,
  IndexDeclaration,
  KeyAssignment,
  MigrationDeclaration,
  Row,
  RowOf,
  Schema,
  SchemaDeclaration,
  ServerDerivedKind,
  Table,
  TableDeclaration,
  TableName,
} from './schema.js';

export { computeRelationGraph, orderByRelations } from './relation-graph.js';
export type { RelationEdge, RelationGraph, TableOperation } from './relation-graph.js';

export {
  BundleErrorDetailsSchema,
  BundleSchema,
  ChangeSchema,
  ConflictSchema,
  CursorUnknownDetailsSchema,
  DEFAULT_LIMITS,
  DeleteChangeSchema,
  ErrorBodySchema,
  ErrorObjectSchema,
  ForbiddenChangeSchema,
  ForbiddenDetailsSchema,
  HistoryTokenSchema,
  HistoryPointSchema,
  NDJSON_CONTENT_TYPE,
  PROTOCOL_VERSION,
  SCHEMA_VERSION_HEADER,
  SYNCED_TABLES_HEADER,
  PokeSchema,
  PrimaryKeySchema,
  PullResponseSchema,
  PushBundleSchema,
  PushRequestSchema,
  PushResponseSchema,
  PushResultSchema,
  RowEffectSchema,
  RowSchema,
  ServerIdSchema,
  SnapshotAfterHistorySchema,
  SnapshotEndSchema,
  SnapshotHeaderSchema,
  SnapshotLineSchema,
  SnapshotRowSchema,
  SourceIdSchema,
  SyncRequestSchema,
  SyncResponseSchema,
  UpsertChangeSchema,
  ValidationDetailsSchema,
  ValidationErrorSchema,
  bundleDigest,
  canonicalJson,
  CLIENT_REQUEST_HEADERS,
  committedPushRows,
  createBundleDigest,
  describeZodError,
  parsePullQuery,
  parseSnapshotQuery,
} from './wire.js';
export { isPlainSnapshotRow, parseWith } from './row-arrays.js';
export type {
  Bundle,
  Change,
  ClientRequestHeader,
  Conflict,
  DeleteChange,
  ErrorBody,
  ForbiddenDetails,
  HistoryPoint,
  Poke,
  PrimaryKey,
  PullQuery,
  PullResponse,
  PushRequest,
  PushResponse,
  PushResult,
  RowEffect,
  SnapshotAfterHistory,
  SnapshotEnd,
  SnapshotHeader,
  SnapshotLine,
  SnapshotQuery,
  SnapshotRow,
  SyncRequest,
  SyncResponse,
  UpsertChange,
  ValidationError,
  WireRow,
} from './wire.js';

export {
  BUILTIN_RESOLVERS,
  changedSinceBase,
  clientColumnsEqual,
  clientWins,
  decideConflictOutcome,
  fieldMerge,
  isMergedColumn,
  isResolverOutcome,
  manualResolver,
  mergeFields,
  serverWins,
  valuesEqual,
  changedColumns,
} from './merge.js';
export type {
  ConflictContext,
  ConflictDecisionInput,
  ConflictResolver,
  FieldMerge,
  ResolverOutcome,
} from './merge.js';

export {
  counterDelta,
  counterDeltas,
  counterValue,
  isCounter,
  rebasedCounter,
  withCountersRebased,
} from './counters.js';

export { CONFLICT_SIDES, lostValuesOf, settledRowOf } from './lost-values.js';
export type { ConflictSide, LostValues, SettlementInput } from './lost-values.js';
export {
  asSchemaHistory,
  isSchemaHistory,
  planMigration,
  schemaHistory,
} from './schema-history.js';
export type {
  ColumnChange,
  MigrationPlan,
  MigrationStep,
  SchemaHistory,
  VersionMigration,
} from './schema-history.js';
export { projectionBetween } from './schema-projection.js';
export type { VersionProjection } from './schema-projection.js';
export { declaredIndexesSql, sqliteMigrationStatements } from './sqlite-migration.js';
export type { SqliteMigrationSql, SqliteMigrationTarget } from './sqlite-migration.js';
export { subsetHistory, subsetSchema } from './schema-subset.js';

/**
 * zod schemas of every request and response of protocol v1, and the types derived from them.
 * Parse with these at trust boundaries only: HTTP bodies, server responses, JSON read back
 * from storage.
 *
 * @module
 */
import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';
import { z } from 'zod';
import { PROTOCOL_ERROR_CODES, VALIDATION_ERROR_CODES } from './errors.js';
import {
  MAX_COLUMNS,
  MAX_COLUMN_NAME,
  columnListProblem,
  isPlainChange,
  isPlainRowEffect,
  rowArray,
} from './row-arrays.js';

/** The protocol version this package speaks. */
export const PROTOCOL_VERSION = 1;

/**
 * The request headers a Ferry client may send beyond the CORS-safelisted ones (`accept`): the
 * server allows exactly these to a browser on another origin, so a header a client sends and
 * a preflight refuses cannot happen (a client sending a header not listed here does not
 * compile).
 */
export const CLIENT_REQUEST_HEADERS = [
  'authorization',
  'content-type',
  'cache-control',
  'x-request-id',
  'x-ferry-schema',
  'x-ferry-tables',
] as const;

/**
 * The request header that names the schema version the client runs (a positive integer). A
 * request without it is from a client older than schema versions, which ran version 1.
 * `GET /v1/events` also takes it as `?schema=` (a browser `EventSource` sets no headers).
 */
export const SCHEMA_VERSION_HEADER = 'x-ferry-schema';

/**
 * Selective sync: the request header that names the tables a client syncs, comma-separated, as
 * its schema version names them (absent: all). The server sends only their rows.
 */
export const SYNCED_TABLES_HEADER = 'x-ferry-tables';

/** A header of {@link CLIENT_REQUEST_HEADERS}, or the safelisted `accept`. */
export type ClientRequestHeader = (typeof CLIENT_REQUEST_HEADERS)[number] | 'accept';

/** Limits the server enforces by default; both sides use them to size requests. */
export const DEFAULT_LIMITS = {
  /** Largest request body, in bytes (10 MiB). */
  maxBodyBytes: 10 * 1024 * 1024,
  /** Most changes in one push. */
  maxChanges: 10_000,
  /** Rows per pull page when the request names no limit. */
  pullLimit: 5_000,
  /** Largest `limit` a pull may ask for; larger values are clamped. */
  maxPullLimit: 50_000,
} as const;

const UUID_ANY_CASE =
  /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

const positiveInt = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);
const nonNegativeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/** A source id: a UUID chosen once per install. */
export const SourceIdSchema = z.string().regex(UUID_ANY_CASE, 'sourceId must be a UUID');

/**
 * A history token: opaque to clients. The server gives one to every committed bundle; it names
 * the user's history up to and including that bundle on that server (the bundle's content and
 * every bundle before it, starting from the server's identity), so two histories that differ
 * anywhere up to a bundle give it different tokens.
 */
export const HistoryTokenSchema = z.string().min(1).max(128);

/**
 * A point of a user's history: a `bundleSeq` and its history token. A conflict answer names the
 * head the server judged it on; a client sends back the newest point an answer told it of
 * (`basesAt`), so that versions it learned from answers, above its checkpoint, are checked to be
 * on the server's history before a push relies on them.
 */
export const HistoryPointSchema = z.object({
  bundleSeq: positiveInt,
  token: HistoryTokenSchema,
});
/** See {@link HistoryPointSchema}. */
export type HistoryPoint = z.infer<typeof HistoryPointSchema>;

/** The identity of a server's database: a UUID created once with the data and kept with it. */
export const ServerIdSchema = z.string().min(1).max(64);

/** A primary key value: a string or a safe integer. */
export const PrimaryKeySchema = z.union([
  z.string().min(1).max(512),
  z.number().int().min(Number.MIN_SAFE_INTEGER).max(Number.MAX_SAFE_INTEGER),
]);
/** A primary key value. */
export type PrimaryKey = z.infer<typeof PrimaryKeySchema>;

/** A row on the wire: column name to JSON value. Checked against the schema separately. */
export const RowSchema = z.record(z.string(), z.unknown());
/** A row on the wire. */
export type WireRow = z.infer<typeof RowSchema>;

const baseVersion = positiveInt.nullable();

/**
 * Upsert change: the row as the device has it, and `columns`, the columns the device changed.
 * A row the server has gets only `columns` written (without `columns`: the columns `row`
 * carries); a row it does not have is inserted from `row`, whose missing columns take their
 * defaults. So a column a device does not know, or did not change, is never overwritten by it.
 */
export const UpsertChangeSchema = z
  .object({
    table: z.string().min(1),
    pk: PrimaryKeySchema,
    op: z.literal('upsert'),
    baseVersion,
    row: RowSchema,
    columns: z.array(z.string().min(1).max(MAX_COLUMN_NAME)).max(MAX_COLUMNS).optional(),
    /**
     * The row at `baseVersion` is a tombstone: the device saw the row deleted and re-creates it.
     * Lets the server tell a re-insert from a stale edit once it purged the tombstone.
     */
    baseDeleted: z.literal(true).optional(),
    /**
     * With `baseVersion: null`: this install may have pushed the insert before, under a source id
     * it has since left (its file was restored from a backup or copied, and the answer was lost
     * with it). Lets the server refuse to take it as new when it may have purged the tombstone of
     * that earlier row.
     */
    maybePushed: z.literal(true).optional(),
    /**
     * For each counter column (`merge: 'counter'`) the change names in `columns`: the amount the
     * device added since the row at `baseVersion`. The server adds it to the current value
     * instead of writing the row's value, and a change that writes nothing but counters commits
     * over a newer version of a live row (concurrent increments add up).
     */
    deltas: z.record(z.string(), z.number().finite()).optional(),
  })
  .superRefine((change, ctx) => {
    if (change.deltas !== undefined) {
      const named = new Set(change.columns ?? []);
      const stray = Object.keys(change.deltas).filter((name) => !named.has(name));
      if (change.baseVersion === null || change.columns === undefined || stray.length > 0)
        ctx.addIssue({
          code: 'custom',
          path: ['deltas'],
          message:
            'deltas are for columns the change names in columns, on a row it has a baseVersion of',
        });
    }
    if (change.baseDeleted === true && change.baseVersion === null)
      ctx.addIssue({
        code: 'custom',
        path: ['baseDeleted'],
        message: "baseDeleted needs the tombstone's baseVersion",
      });
    if (change.maybePushed === true && change.baseVersion !== null)
      ctx.addIssue({
        code: 'custom',
        path: ['maybePushed'],
        message: 'maybePushed is for an insert (baseVersion null)',
      });
    if (change.columns === undefined) return;
    const problem = columnListProblem(change.columns, change.row);
    if (problem !== undefined)
      ctx.addIssue({ code: 'custom', path: ['columns'], message: problem });
  });

/** Delete change. */
export const DeleteChangeSchema = z.object({
  table: z.string().min(1),
  pk: PrimaryKeySchema,
  op: z.literal('delete'),
  baseVersion,
});

/** One change of a push, client to server. */
export const ChangeSchema = z.discriminatedUnion('op', [UpsertChangeSchema, DeleteChangeSchema]);
/** One change of a push. */
export type Change = z.infer<typeof ChangeSchema>;
/** An upsert change. */
export type UpsertChange = z.infer<typeof UpsertChangeSchema>;
/** A delete change. */
export type DeleteChange = z.infer<typeof DeleteChangeSchema>;

/** The effect of a committed bundle on one row, server to client. */
export const RowEffectSchema = z.discriminatedUnion('op', [
  z.object({
    table: z.string(),
    pk: PrimaryKeySchema,
    op: z.literal('upsert'),
    rowVersion: positiveInt,
    row: RowSchema,
    /**
     * On a table whose keys the server assigns (`keys: 'server'`): the temporary key the push
     * named this inserted row by, which the server replaced with `pk`. Only in the bundle of the
     * push that inserted the row (its answer, a replay, a pull of it).
     */
    tempKey: PrimaryKeySchema.optional(),
  }),
  z.object({
    table: z.string(),
    pk: PrimaryKeySchema,
    op: z.literal('delete'),
    rowVersion: positiveInt,
    row: z.null(),
  }),
]);
/** The effect of a committed bundle on one row. */
export type RowEffect = z.infer<typeof RowEffectSchema>;

/** The push part of a request: one logical bundle of a source. */
export const PushBundleSchema = z.object({
  sourceBundleId: positiveInt,
  changes: rowArray(ChangeSchema, isPlainChange),
});

/** Body of `POST /v1/push`. */
export const PushRequestSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  sourceId: SourceIdSchema,
  sourceBundleId: positiveInt,
  changes: rowArray(ChangeSchema, isPlainChange),
  /**
   * The client's pull cursor, checked like a pull's before anything is committed (a 410 commits
   * nothing). A client that takes the answer for the bundle after its checkpoint sends it, so
   * that a server whose history differs (restored from a backup) cannot pass for the next one.
   */
  after: nonNegativeInt.optional(),
  /** The history token the client holds for bundle `after`. */
  afterToken: HistoryTokenSchema.optional(),
  /**
   * The newest history point a push or conflict answer told the client of, while its checkpoint
   * has not confirmed it: the versions the changes' bases name may come from there. Checked like
   * `after` (410 `cursor_unknown` with `details.point` `bases`, nothing committed).
   */
  basesAt: HistoryPointSchema.optional(),
});
/** Body of `POST /v1/push`. */
export type PushRequest = z.infer<typeof PushRequestSchema>;

/** 200 answer of `POST /v1/push`: the committed bundle, or the stored answer of a replay. */
export const PushResponseSchema = z.object({
  sourceBundleId: positiveInt,
  bundleSeq: positiveInt,
  rows: rowArray(RowEffectSchema, isPlainRowEffect),
  /** The committed bundle's history token (absent from servers that predate tokens). */
  token: HistoryTokenSchema.optional(),
});
/** 200 answer of `POST /v1/push`. */
export type PushResponse = z.infer<typeof PushResponseSchema>;

/** One conflicting change of a rejected push. */
export const ConflictSchema = z.object({
  index: nonNegativeInt,
  table: z.string(),
  pk: PrimaryKeySchema,
  op: z.enum(['upsert', 'delete']),
  baseVersion,
  /** The row's current version, or null when the server never had the row. */
  serverVersion: positiveInt.nullable(),
  serverDeleted: z.boolean(),
  /** The server's current row, or null when it is deleted or unknown. */
  serverRow: RowSchema.nullable(),
});
/** One conflicting change of a rejected push. */
export type Conflict = z.infer<typeof ConflictSchema>;

/** One entry of `details.errors` in a 422 answer. */
export const ValidationErrorSchema = z.object({
  index: nonNegativeInt,
  table: z.string(),
  pk: PrimaryKeySchema.nullable(),
  code: z.enum(VALIDATION_ERROR_CODES),
  message: z.string(),
  column: z.string().optional(),
});
/** One entry of `details.errors` in a 422 answer. */
export type ValidationError = z.infer<typeof ValidationErrorSchema>;

/** The `error` object of every error answer. */
export const ErrorObjectSchema = z.object({
  code: z.enum(PROTOCOL_ERROR_CODES as [string, ...string[]]),
  message: z.string(),
  details: z.unknown().optional(),
});

/** Body of every error answer: `{"error": {code, message, details?}}`, plus `conflicts` on a 409 conflict. */
export const ErrorBodySchema = z.object({
  error: ErrorObjectSchema,
  conflicts: z.array(ConflictSchema).optional(),
  /**
   * On a 409 conflict: the user's head (last bundle and its token) when the conflicts were
   * judged; every `serverVersion` is at or below it. Absent when the head has no token.
   */
  head: HistoryPointSchema.optional(),
});
/** Body of every error answer. */
export type ErrorBody = z.infer<typeof ErrorBodySchema>;

/** `details` of 409 `bundle_gap` / `stale_bundle` / `bundle_mismatch`. */
export const BundleErrorDetailsSchema = z.object({ lastCommitted: nonNegativeInt });

/**
 * One change a 403 `forbidden` refused: it names a row that belongs to another user, or (with
 * `hookCode`) the server's own rules refused it.
 */
export const ForbiddenChangeSchema = z.object({
  index: nonNegativeInt,
  table: z.string(),
  pk: PrimaryKeySchema,
  /** Which of the server's hooks refused the change; absent for a row of another user. */
  hook: z.enum(['validate', 'authorize']).optional(),
  /** The code the server's hook gave (never one of Ferry's codes); absent for Ferry's refusals. */
  hookCode: z.string().optional(),
  /** The hook's message for this change; absent for Ferry's refusals. */
  message: z.string().optional(),
});

/**
 * `details` of 403 `forbidden` on a push: every refused change, so the client can dead-letter
 * exactly those. Nothing about the rows themselves is revealed.
 */
export const ForbiddenDetailsSchema = z.object({ changes: z.array(ForbiddenChangeSchema) });
/** `details` of 403 `forbidden` on a push. */
export type ForbiddenDetails = z.infer<typeof ForbiddenDetailsSchema>;

/** `details` of 422 `validation_failed`. */
export const ValidationDetailsSchema = z.object({ errors: z.array(ValidationErrorSchema) });

/** One committed bundle in a pull. */
export const BundleSchema = z.object({
  bundleSeq: positiveInt,
  /** The pushing source, or null for writes by backend code. */
  sourceId: z.string().nullable(),
  sourceBundleId: positiveInt.nullable(),
  rows: rowArray(RowEffectSchema, isPlainRowEffect),
  /** Its history token (absent for bundles committed before the server had tokens). */
  token: HistoryTokenSchema.optional(),
  /**
   * For a pushed bundle: {@link bundleDigest} of the changes that committed it, so that a client
   * can tell its own bundle from another install's that shares its `sourceId`.
   */
  digest: z.string().min(1).max(128).optional(),
});
/** One committed bundle in a pull. */
export type Bundle = z.infer<typeof BundleSchema>;

/** 200 answer of `GET /v1/pull`, and the `pull` part of `POST /v1/sync`. */
export const PullResponseSchema = z.object({
  bundles: z.array(BundleSchema),
  stableBundleSeq: nonNegativeInt,
  hasMore: z.boolean(),
  /** The server database's identity. */
  serverId: ServerIdSchema.optional(),
  /**
   * The user's history is pruned through this bundle, and with it the tombstones of rows deleted
   * at or below it: a client may forget its own tombstones up to here (absent: 0).
   */
  prunedThrough: nonNegativeInt.optional(),
});
/** 200 answer of `GET /v1/pull`. */
export type PullResponse = z.infer<typeof PullResponseSchema>;

/** Query of `GET /v1/pull`, after parsing. */
export interface PullQuery {
  readonly after: number;
  readonly limit: number;
  /** The history token the client holds for bundle `after` (`token=`), if it sent one. */
  readonly token?: string;
}

/**
 * Parses the query of `GET /v1/pull`. Returns an error message for a malformed one.
 * `limit` defaults to {@link DEFAULT_LIMITS.pullLimit} and is clamped to `maxLimit`.
 */
export function parsePullQuery(
  params: URLSearchParams,
  maxLimit: number = DEFAULT_LIMITS.maxPullLimit,
): { ok: true; query: PullQuery } | { ok: false; message: string } {
  const after = parseCount(params.get('after'), 'after', 0);
  if (typeof after === 'string') return { ok: false, message: after };
  const limit = parseCount(params.get('limit'), 'limit', DEFAULT_LIMITS.pullLimit);
  if (typeof limit === 'string') return { ok: false, message: limit };
  if (limit < 1) return { ok: false, message: 'limit must be at least 1' };
  const token = params.get('token');
  if (token !== null && !HistoryTokenSchema.safeParse(token).success) {
    return { ok: false, message: 'token must be 1 to 128 characters' };
  }
  const query: PullQuery = { after, limit: Math.min(limit, maxLimit) };
  return { ok: true, query: token === null ? query : { ...query, token } };
}

/** Query of `GET /v1/snapshot`, after parsing: the client's checkpoint, when it has one. */
export interface SnapshotQuery {
  /** The client's checkpoint (`after=`), to be checked against the server's history. */
  readonly after?: number;
  /** The history token the client holds for bundle `after` (`token=`). */
  readonly token?: string;
}

/**
 * Parses the query of `GET /v1/snapshot`: `after` and `token` are optional (a client without a
 * checkpoint sends neither; `token` needs `after`). Returns an error message for a malformed one.
 */
export function parseSnapshotQuery(
  params: URLSearchParams,
): { ok: true; query: SnapshotQuery } | { ok: false; message: string } {
  const rawAfter = params.get('after');
  const token = params.get('token');
  if (rawAfter === null) {
    return token === null ? { ok: true, query: {} } : { ok: false, message: 'token needs after' };
  }
  const after = parseCount(rawAfter, 'after', 0);
  if (typeof after === 'string') return { ok: false, message: after };
  if (token !== null && !HistoryTokenSchema.safeParse(token).success) {
    return { ok: false, message: 'token must be 1 to 128 characters' };
  }
  return { ok: true, query: token === null ? { after } : { after, token } };
}

/**
 * What a snapshot's server says of the client's checkpoint (`after`, `token`), judged as a pull
 * cursor in the snapshot's own read: `kept` (on this history), `pruned` (older than the retained
 * history: the same history as far as the server can tell) or `lost` (the server never had it:
 * a restore from a backup, another history; what the client knew of that history goes).
 */
export const SnapshotAfterHistorySchema = z.enum(['kept', 'pruned', 'lost']);
/** See {@link SnapshotAfterHistorySchema}. */
export type SnapshotAfterHistory = z.infer<typeof SnapshotAfterHistorySchema>;

/** Body of `POST /v1/sync`: an optional push and a pull, in one round trip. */
export const SyncRequestSchema = z.object({
  protocol: z.literal(PROTOCOL_VERSION),
  sourceId: SourceIdSchema,
  push: PushBundleSchema.nullable(),
  after: nonNegativeInt,
  limit: positiveInt.optional(),
  /** The history token the client holds for bundle `after`. */
  afterToken: HistoryTokenSchema.optional(),
  /** As for `POST /v1/push`: checked (after `after`) before the push is judged. */
  basesAt: HistoryPointSchema.optional(),
  /**
   * `unless-pulled`: a committed push's result leaves its rows out (`rowsInPull`) when the pull
   * page of the same answer carries the pushed bundle, so they come once. Absent: rows always.
   */
  pushRows: z.literal('unless-pulled').optional(),
});
/** Body of `POST /v1/sync`. */
export type SyncRequest = z.infer<typeof SyncRequestSchema>;

/** The push part of a `POST /v1/sync` answer. */
export const PushResultSchema = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('committed'),
    sourceBundleId: positiveInt,
    bundleSeq: positiveInt,
    /** The committed rows; absent when `rowsInPull` says the pull page carries them. */
    rows: rowArray(RowEffectSchema, isPlainRowEffect).optional(),
    /** The rows are those of the pulled bundle `bundleSeq` (asked with `pushRows`). */
    rowsInPull: z.literal(true).optional(),
    token: HistoryTokenSchema.optional(),
  }),
  z.object({
    status: z.literal('conflict'),
    conflicts: z.array(ConflictSchema),
    /** The user's head when the conflicts were judged (see {@link ErrorBodySchema}'s `head`). */
    head: HistoryPointSchema.optional(),
  }),
]);
/** The push part of a `POST /v1/sync` answer. */
export type PushResult = z.infer<typeof PushResultSchema>;

/** 200 answer of `POST /v1/sync`. */
export const SyncResponseSchema = z.object({
  push: PushResultSchema.nullable(),
  pull: PullResponseSchema,
});
/** 200 answer of `POST /v1/sync`. */
export type SyncResponse = z.infer<typeof SyncResponseSchema>;

/**
 * The rows of a committed push result: its own, or, with `rowsInPull`, those of the bundle of
 * the pull page it names. Undefined when neither is there (a malformed answer).
 */
export function committedPushRows(
  push: Extract<PushResult, { status: 'committed' }>,
  pull: Pick<PullResponse, 'bundles'>,
): readonly RowEffect[] | undefined {
  if (push.rows !== undefined) return push.rows;
  if (push.rowsInPull !== true) return undefined;
  return pull.bundles.find((bundle) => bundle.bundleSeq === push.bundleSeq)?.rows;
}

/** First line of `GET /v1/snapshot`. */
export const SnapshotHeaderSchema = z.object({
  snapshotBundleSeq: nonNegativeInt,
  /** The history token of bundle `snapshotBundleSeq` (absent at 0, or before tokens). */
  token: HistoryTokenSchema.optional(),
  serverId: ServerIdSchema.optional(),
  /** The server's judgement of the request's `after` (absent when the request named none). */
  afterHistory: SnapshotAfterHistorySchema.optional(),
});
/** A row line of `GET /v1/snapshot`. */
export const SnapshotRowSchema = z.object({
  table: z.string(),
  pk: PrimaryKeySchema,
  rowVersion: positiveInt,
  row: RowSchema,
});
/** Last line of a complete `GET /v1/snapshot`. */
export const SnapshotEndSchema = z.object({ end: z.literal(true), rowCount: nonNegativeInt });

/** Any line of `GET /v1/snapshot`. */
export const SnapshotLineSchema = z.union([
  SnapshotHeaderSchema,
  SnapshotRowSchema,
  SnapshotEndSchema,
]);
/** First line of a snapshot. */
export type SnapshotHeader = z.infer<typeof SnapshotHeaderSchema>;
/** A row line of a snapshot. */
export type SnapshotRow = z.infer<typeof SnapshotRowSchema>;
/** Last line of a snapshot. */
export type SnapshotEnd = z.infer<typeof SnapshotEndSchema>;
/** Any line of a snapshot. */
export type SnapshotLine = z.infer<typeof SnapshotLineSchema>;

/** `details` of 410 `cursor_unknown` when the cause is known. */
export const CursorUnknownDetailsSchema = z.object({
  /**
   * `ahead`: `after` is past the user's last bundle. `history_diverged`: the client's token for
   * bundle `after` is not the server's (a server restored from a backup, or another database).
   */
  reason: z.enum(['ahead', 'history_diverged']),
  /**
   * Which point was refused: absent for `after` (the client's checkpoint: hydrate), `bases` for
   * the push's `basesAt` (the checkpoint is on the history; what the client learned from answers
   * above it is not, and goes).
   */
  point: z.literal('bases').optional(),
});

/**
 * The digest of a push's changes: sha-256 (hex) of their canonical JSON (object keys sorted at
 * every level, no whitespace). The server keeps it with every committed bundle: a resend whose
 * digest differs is another install's bundle (409 `bundle_mismatch`), and a pulled bundle carries
 * it so a client acknowledges only its own. Synchronous and pure JavaScript (`@noble/hashes`), so
 * it runs alike in Node, in browsers and inside a simulation that allows no I/O; `sha256Hex`
 * replaces the hash with a native one where there is one (the server's `node:crypto`).
 */
export function bundleDigest(
  changes: readonly unknown[],
  sha256Hex: (text: string) => string = (text) => bytesToHex(sha256(utf8.encode(text))),
): string {
  return sha256Hex(canonicalJson(changes));
}

const utf8 = new TextEncoder();

/** An incremental {@link bundleDigest}: the changes fed a run at a time, in order. */
export interface BundleDigestBuilder {
  /** Adds the next changes of the bundle. */
  add(changes: readonly unknown[]): void;
  /** The digest of the changes added, as {@link bundleDigest} gives it for them. */
  finish(): string;
}

/**
 * {@link bundleDigest} built a run of changes at a time (the canonical JSON of a list is its
 * items' canonical JSON between brackets, so hashing runs in turn gives the same digest): a
 * caller with a large bundle can give other work a turn between runs.
 */
export function createBundleDigest(): BundleDigestBuilder {
  const hash = sha256.create();
  let first = true;
  return {
    add(changes) {
      if (changes.length === 0) return;
      // The canonical JSON of the run, without its brackets: its items' JSON, comma-separated.
      const items = canonicalJson(changes).slice(1, -1);
      hash.update(utf8.encode(`${first ? '[' : ','}${items}`));
      first = false;
    },
    finish() {
      if (first) hash.update(utf8.encode('['));
      hash.update(utf8.encode(']'));
      return bytesToHex(hash.digest());
    },
  };
}

/**
 * JSON with object keys sorted at every level (by UTF-16 code units, as `Array.prototype.sort`
 * compares strings); `undefined` members are left out and `undefined` array items become `null`,
 * as JSON does.
 *
 * It runs over every pushed bundle on both sides, so it must cost about what `JSON.stringify`
 * costs: `JSON.stringify` with a property list writes every object's members in the list's
 * order, so the sorted list of all keys in the value gives canonical JSON in one native pass.
 * A list is walked for every object, so a value with many distinct keys (a JSON column used as
 * a map) takes the plain recursive way instead.
 */
export function canonicalJson(value: unknown): string {
  const keys = new Set<string>();
  if (collectKeys(value, keys)) return JSON.stringify(value, [...keys].sort()) ?? 'null';
  return sortedJson(value);
}

/** At most this many distinct keys go into one property list (see {@link canonicalJson}). */
const MAX_LISTED_KEYS = 64;

/** Adds the own keys of every object in `value` to `keys`; false once there are too many. */
function collectKeys(value: unknown, keys: Set<string>): boolean {
  // A function member is written as null by the definition, left out by a property list.
  if (typeof value === 'function' || typeof value === 'symbol') return false;
  if (value === null || typeof value !== 'object') return true;
  if (Array.isArray(value)) {
    for (const item of value) if (!collectKeys(item, keys)) return false;
    return true;
  }
  // An object with toJSON (a Date) is written as what toJSON returns: keep the plain way.
  if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
  for (const key of Object.keys(value)) {
    keys.add(key);
    if (keys.size > MAX_LISTED_KEYS) return false;
    if (!collectKeys((value as Record<string, unknown>)[key], keys)) return false;
  }
  return true;
}

/** The definition of {@link canonicalJson}, written out: a sorted copy of every object. */
function sortedJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((v) => sortedJson(v ?? null)).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${sortedJson(v)}`).join(',')}}`;
}

/** `data` of an SSE `poke` event on `GET /v1/events`. */
export const PokeSchema = z.object({ bundleSeq: positiveInt });
/** `data` of an SSE `poke` event. */
export type Poke = z.infer<typeof PokeSchema>;

/** Content type of the snapshot stream. */
export const NDJSON_CONTENT_TYPE = 'application/x-ndjson';

/** A readable one-line account of a zod error, for `bad_request` messages. */
export function describeZodError(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length > 0 ? issue.path.join('.') : '(body)'}: ${issue.message}`)
    .join('; ');
}

function parseCount(raw: string | null, name: string, fallback: number): number | string {
  if (raw === null || raw === '') return fallback;
  if (!/^\d{1,16}$/.test(raw)) return `${name} must be a non-negative integer`;
  const value = Number(raw);
  return Number.isSafeInteger(value) ? value : `${name} is too large`;
}

import type {
  Conflict,
  ErrorBody,
  HistoryPoint,
  ProtocolErrorCode,
  SnapshotAfterHistory,
} from '@ferry/protocol';

/**
 * A committed bundle as stores keep it: its row effects already serialised, because bundles
 * are only ever read whole and sent on unchanged.
 */
export interface StoredBundle {
  readonly bundleSeq: number;
  readonly sourceId: string | null;
  readonly sourceBundleId: number | null;
  readonly rowCount: number;
  /** JSON array of the bundle's row effects. */
  readonly rowsJson: string;
  /** Its history token; null for a bundle committed before the store kept tokens. */
  readonly token: string | null;
  /** `bundleDigest` of the changes of a pushed bundle; null for others and older bundles. */
  readonly digest: string | null;
  /**
   * The schema version its rows are in (null: committed before versions, in version 1's shape;
   * undefined: a store that does not say, so the newest).
   */
  readonly schemaVersion?: number | null | undefined;
}

/** A page of a pull, as a store returns it. */
export interface PullPage {
  readonly bundles: readonly StoredBundle[];
  readonly stableBundleSeq: number;
  readonly hasMore: boolean;
  /** The identity of the store's database. */
  readonly serverId: string;
  /** The user's pruned floor: history and tombstones at or below it are gone (0: none). */
  readonly prunedThrough: number;
}

/**
 * The body of a push's 200 answer, the exact text stored for replays. `token` is the
 * committed bundle's history token (null for a bundle from before tokens: left out).
 */
export function pushResponseJson(
  sourceBundleId: number,
  bundleSeq: number,
  rowsJson: string,
  token: string | null,
): string {
  return `{"sourceBundleId":${sourceBundleId},"bundleSeq":${bundleSeq},"rows":${rowsJson}${optionalString('token', token)}}`;
}

/** The body of a pull's 200 answer. */
export function pullResponseJson(page: PullPage): string {
  const bundles = page.bundles.map(
    (b) =>
      `{"bundleSeq":${b.bundleSeq},"sourceId":${JSON.stringify(b.sourceId)},"sourceBundleId":${JSON.stringify(b.sourceBundleId)},"rows":${b.rowsJson}${optionalString('token', b.token)}${optionalString('digest', b.digest)}}`,
  );
  return `{"bundles":[${bundles.join(',')}],"stableBundleSeq":${page.stableBundleSeq},"hasMore":${page.hasMore},"serverId":${JSON.stringify(page.serverId)}${page.prunedThrough > 0 ? `,"prunedThrough":${page.prunedThrough}` : ''}}`;
}

/** What the first line of a snapshot says; see {@link snapshotHeaderJson}. */
export interface SnapshotHead {
  readonly snapshotBundleSeq: number;
  /** The history token of bundle `snapshotBundleSeq` (null at 0, or from before tokens). */
  readonly token?: string | null | undefined;
  readonly serverId?: string | undefined;
  /** The server's judgement of the request's `after`, when it named one. */
  readonly afterHistory?: SnapshotAfterHistory | undefined;
}

/** The first line of `GET /v1/snapshot`, without its newline. */
export function snapshotHeaderJson(head: SnapshotHead): string {
  const serverId = head.serverId === undefined ? null : head.serverId;
  return `{"snapshotBundleSeq":${head.snapshotBundleSeq}${optionalString('token', head.token ?? null)}${optionalString('serverId', serverId)}${optionalString('afterHistory', head.afterHistory ?? null)}}`;
}

/** The `push` part of a sync answer for a committed (or replayed) push. */
export function committedPushResultJson(pushResponseJson: string): string {
  return `{"status":"committed",${pushResponseJson.slice(1)}`;
}

/**
 * The `push` part of a sync answer for a committed push whose bundle is in the same answer's
 * pull page, asked with `pushRows: "unless-pulled"`: the rows are left to the page
 * (`rowsInPull`), so they come once.
 */
export function committedInPullJson(pulled: StoredBundle, sourceBundleId: number): string {
  return `{"status":"committed","sourceBundleId":${sourceBundleId},"bundleSeq":${pulled.bundleSeq},"rowsInPull":true${optionalString('token', pulled.token)}}`;
}

/** The `push` part of a sync answer for a conflicting push. */
export function conflictPushResultJson(
  conflicts: readonly Conflict[],
  head: HistoryPoint | null,
): string {
  return JSON.stringify(
    head === null ? { status: 'conflict', conflicts } : { status: 'conflict', conflicts, head },
  );
}

/** The body of a sync's 200 answer. */
export function syncResponseJson(pushJson: string | null, pullJson: string): string {
  return `{"push":${pushJson ?? 'null'},"pull":${pullJson}}`;
}

/** The body of an error answer. */
export function errorBody(
  code: ProtocolErrorCode,
  message: string,
  details?: unknown,
  conflicts?: readonly Conflict[],
): ErrorBody {
  const body: ErrorBody = {
    error: details === undefined ? { code, message } : { code, message, details },
  };
  if (conflicts) body.conflicts = [...conflicts];
  return body;
}

/** The 409 body of a conflicting push. */
export function conflictErrorBody(
  conflicts: readonly Conflict[],
  head: HistoryPoint | null,
): ErrorBody {
  const n = conflicts.length;
  const body = errorBody(
    'conflict',
    `${n} change${n === 1 ? '' : 's'} conflict`,
    undefined,
    conflicts,
  );
  if (head !== null) body.head = head;
  return body;
}

/** `,"name":"value"`, or nothing for null. */
function optionalString(name: string, value: string | null): string {
  return value === null ? '' : `,"${name}":${JSON.stringify(value)}`;
}

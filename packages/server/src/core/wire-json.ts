import type { Conflict, ErrorBody, ProtocolErrorCode } from '@ferry/protocol';

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
}

/** A page of a pull, as a store returns it. */
export interface PullPage {
  readonly bundles: readonly StoredBundle[];
  readonly stableBundleSeq: number;
  readonly hasMore: boolean;
}

/** The body of a push's 200 answer, the exact text stored for replays. */
export function pushResponseJson(sourceBundleId: number, bundleSeq: number, rowsJson: string) {
  return `{"sourceBundleId":${sourceBundleId},"bundleSeq":${bundleSeq},"rows":${rowsJson}}`;
}

/** The body of a pull's 200 answer. */
export function pullResponseJson(page: PullPage): string {
  const bundles = page.bundles.map(
    (b) =>
      `{"bundleSeq":${b.bundleSeq},"sourceId":${JSON.stringify(b.sourceId)},"sourceBundleId":${JSON.stringify(b.sourceBundleId)},"rows":${b.rowsJson}}`,
  );
  return `{"bundles":[${bundles.join(',')}],"stableBundleSeq":${page.stableBundleSeq},"hasMore":${page.hasMore}}`;
}

/** The `push` part of a sync answer for a committed (or replayed) push. */
export function committedPushResultJson(pushResponseJson: string): string {
  return `{"status":"committed",${pushResponseJson.slice(1)}`;
}

/** The `push` part of a sync answer for a conflicting push. */
export function conflictPushResultJson(conflicts: readonly Conflict[]): string {
  return JSON.stringify({ status: 'conflict', conflicts });
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
export function conflictErrorBody(conflicts: readonly Conflict[]): ErrorBody {
  const n = conflicts.length;
  return errorBody('conflict', `${n} change${n === 1 ? '' : 's'} conflict`, undefined, conflicts);
}

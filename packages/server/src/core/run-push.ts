import {
  FerryError,
  type Conflict,
  type HistoryPoint,
  type PrimaryKey,
  type Schema,
  type Table,
  type ValidationError,
  type WireRow,
} from '@ferry/protocol';
import type {
  BackendWriteTx,
  CommittedBundle,
  PushInput,
  PushOutcome,
} from '../store/server-store.js';
import { decideBasesAt, decideCursor, type CursorState } from './decide-cursor.js';
import {
  decidePush,
  decideSourceBundle,
  pushLookups,
  type ConflictDraft,
  type PushDecision,
  type PushDecisionInput,
  type ReferencingChild,
  type RestrictCheck,
  type RowRef,
  type RowState,
  type SourceBundleDecision,
  type SourceState,
} from './decide-push.js';
import { beforeCommit, refusedByHooks } from './push-hooks.js';
import {
  cursorRejection,
  forbiddenRejection,
  hookRefusalRejection,
  sourceBundleRejection,
  validationRejection,
} from './rejections.js';
import { rowKey, validateChanges, type NormalizedChange } from './validate-changes.js';
import { assignServerKeys, temporaryInsertsByTable, withPushedKeys } from './server-keys.js';
import { pushResponseJson } from './wire-json.js';

/** What a store keeps about a source: its last committed push and the answer it got. */
export interface StoredSource extends SourceState {
  /** The user's bundleSeq of the source's last committed push (0 before its first commit). */
  readonly bundleSeq: number;
  /** The stored answer, kept when its bundle was pruned; null while the bundle is retained. */
  readonly response: string | null;
}

/** What a push reads first, under the lock that orders it against other pushes of its user. */
export interface LockedSource {
  readonly source: StoredSource;
  /** The user's history as a pull cursor needs it; read when the push carries a cursor. */
  readonly cursor: CursorState | undefined;
  /** The same for the push's `basesAt` point; read when it carries one. */
  readonly bases: CursorState | undefined;
  /** The user's pruned floor: its tombstones at or below it are purged (`conflictsWithState`). */
  readonly tombstoneFloor: number;
}

/** The state a push was decided on, handed to {@link PushTx.seal}. */
export interface DecidedPush {
  readonly input: PushInput;
  /** `bundleDigest` of the pushed changes. */
  readonly digest: string;
  /** The changes to write, in the order written. */
  readonly changes: readonly NormalizedChange[];
  /** The state of every row the decision read; undefined for a row that never existed. */
  readonly states: ReadonlyMap<string, RowState | undefined>;
  /** Rows inserted under a temporary key (`rowKey` of the real key) → that temporary key. */
  readonly tempKeys: ReadonlyMap<string, PrimaryKey>;
}

/** What {@link PushTx.seal} committed: the push's own bundle and every bundle of the commit. */
export interface SealedPush {
  readonly own: {
    readonly bundleSeq: number;
    readonly rowCount: number;
    readonly responseJson: string;
  };
  /** Every bundle the transaction made (other users' bundles of cascades included). */
  readonly committed: readonly CommittedBundle[];
}

/**
 * The steps of a push only a store can do, inside its write transaction: reads and writes in its
 * dialect, no protocol decision (those are {@link runPush}'s). Each store implements this
 * narrow interface; the sequence exists once.
 */
export interface PushTx {
  /** Takes the lock that orders the pushes of `input.userId`; reads the source and the cursor. */
  lockSource(input: PushInput): Promise<LockedSource>;
  /** The user's last bundle and its token (null before the first, or without a token). */
  head(input: PushInput): Promise<HistoryPoint | null>;
  /** The stored answer of the source's last committed push, for a replay. */
  replayAnswer(input: PushInput, source: StoredSource): Promise<PushOutcome>;
  /** Values the store cannot hold although the schema allows them (none by default). */
  unstorable?(changes: readonly NormalizedChange[]): readonly ValidationError[];
  /** The state of each row, keyed by `RowRef.key`; a row missing from the map never existed. */
  readRowStates(refs: readonly RowRef[]): Promise<ReadonlyMap<string, RowState>>;
  /** For each check's index: the keys of the child rows that reference its parent now. */
  findRestrictedChildren(
    checks: readonly RestrictCheck[],
  ): Promise<ReadonlyMap<number, readonly PrimaryKey[]>>;
  /** The current rows of `table` with these keys, keyed by `rowKey`. */
  readRows(table: Table, pks: readonly PrimaryKey[]): Promise<ReadonlyMap<string, WireRow>>;
  /**
   * `count` new keys of `table`, an integer-keyed table whose keys the server assigns: values of
   * its sequence, never handed out before (the push's inserts under temporary keys take them).
   */
  allocateKeys(table: Table, count: number): Promise<readonly number[]>;
  /** Writes the decided changes in order; `now` is the commit time (server-derived columns). */
  apply(changes: readonly NormalizedChange[], now: Date): Promise<void>;
  /**
   * Runs one SQL query of the store's dialect in the transaction and refuses (throws) a
   * statement that writes: the server hooks' `ctx.query`.
   */
  queryReadOnly(sql: string, params: readonly unknown[]): Promise<Record<string, unknown>[]>;
  /**
   * The backend write API on this transaction, acting for `userId` (`beforeCommit`'s `tx`): what
   * it writes is captured and sealed with the push. `finish()` closes it.
   */
  backendWrite(userId: string, now: Date): BackendWriteTx & { finish(): void };
  /**
   * Turns everything the transaction wrote (the changes and what they cascaded to) into
   * bundles of the affected users, stores the push's answer for replays, and returns them.
   */
  seal(push: DecidedPush): Promise<SealedPush>;
}

/**
 * The decisions a push takes, as functions: {@link defaultPushRules} are the protocol's. The
 * simulator's negative controls hand a store deliberately broken ones (its `faultyPushRules`),
 * so no fault switch lives in a store.
 */
export interface PushRules {
  readonly decideSourceBundle: (
    source: SourceState,
    push: { readonly sourceBundleId: number; readonly digest: string },
  ) => SourceBundleDecision;
  readonly decidePush: (input: PushDecisionInput) => PushDecision;
}

/** The protocol's push rules. */
export const defaultPushRules: PushRules = { decideSourceBundle, decidePush };

/** Outcome of {@link runPush}. */
export interface PushRun {
  readonly outcome: PushOutcome;
  /** Bundles the push committed (empty unless `commit`). */
  readonly committed: readonly CommittedBundle[];
  /** Whether the transaction wrote something to commit: false for refusals, conflicts, replays. */
  readonly commit: boolean;
}

/**
 * A push, from its cursor to its sealed bundle, inside the caller's write transaction: the
 * cursor (a 410 before anything commits), the source bundle id (commit, replay or refusal),
 * validation, the stored state of every row it names, the decision (forbidden, dangling
 * reference, conflict, or the changes to write), the server's `validate` and `authorize` hooks
 * (a 403 naming the changes they refused), the writes, the `beforeCommit` hook and the seal.
 * The one sequence every store runs; a store only provides {@link PushTx}.
 */
export async function runPush(
  tx: PushTx,
  schema: Schema,
  input: PushInput,
  digest: string,
  rules: PushRules = defaultPushRules,
): Promise<PushRun> {
  const refuse = (outcome: PushOutcome): PushRun => ({ outcome, committed: [], commit: false });
  const { source, cursor, bases, tombstoneFloor } = await tx.lockSource(input);
  if (input.pullAfter !== undefined && cursor !== undefined) {
    const refused = decideCursor({ after: input.pullAfter, token: input.pullAfterToken }, cursor);
    if (refused) return refuse(cursorRejection(refused, input.pullAfter));
  }
  if (input.basesAt !== undefined && bases !== undefined) {
    const refused = decideBasesAt(input.basesAt, bases);
    if (refused) return refuse(cursorRejection(refused, input.basesAt.bundleSeq, 'bases'));
  }
  const decision = rules.decideSourceBundle(source, {
    sourceBundleId: input.sourceBundleId,
    digest,
  });
  if (decision.kind === 'replay') return refuse(await tx.replayAnswer(input, source));
  if (decision.kind !== 'commit') {
    return refuse(sourceBundleRejection(decision, input.sourceBundleId));
  }

  const validation = validateChanges(schema, input.userId, input.changes);
  if (!validation.ok) return refuse(validationRejection(validation.errors));
  const unstorable = tx.unstorable?.(validation.changes) ?? [];
  if (unstorable.length > 0) return refuse(validationRejection(unstorable));
  const keyed = assignServerKeys(validation.changes, await allocatedKeys(tx, validation.changes));
  const { changes, temporary } = keyed;
  const lookups = pushLookups(changes);
  const rowStates = await tx.readRowStates(lookups.rows);
  const restrictedChildren = childrenOf(
    lookups.restrict,
    await tx.findRestrictedChildren(lookups.restrict),
  );
  const plan = rules.decidePush({
    schema,
    userId: input.userId,
    changes,
    rowStates,
    restrictedChildren,
    tombstoneFloor,
  });
  // A refusal names a temporary insert by the key it was pushed with.
  if (plan.kind === 'forbidden') {
    return refuse(forbiddenRejection(withPushedKeys(plan.changes, temporary)));
  }
  if (plan.kind === 'invalid') {
    return refuse(validationRejection(withPushedKeys(plan.errors, temporary)));
  }
  if (plan.kind === 'conflict') {
    return refuse({
      kind: 'conflict',
      conflicts: withPushedKeys(await withServerRows(tx, schema, plan.conflicts), temporary),
      head: await tx.head(input),
    });
  }

  if (input.hooks?.tables !== undefined) {
    const refused = await refusedByHooks(tx, schema, input, plan.changes);
    if (refused.length > 0) {
      return refuse(hookRefusalRejection(withPushedKeys(refused, temporary)));
    }
  }

  await tx.apply(plan.changes, input.now);
  if (input.hooks?.beforeCommit !== undefined) await beforeCommit(tx, input, plan.changes);
  const states = new Map<string, RowState | undefined>();
  for (const ref of lookups.rows) states.set(ref.key, rowStates.get(ref.key));
  const sealed = await tx.seal({
    input,
    digest,
    changes: plan.changes,
    states,
    tempKeys: keyed.tempKeys,
  });
  return {
    outcome: {
      kind: 'committed',
      replayed: false,
      bundleSeq: sealed.own.bundleSeq,
      rowCount: sealed.own.rowCount,
      responseJson: sealed.own.responseJson,
    },
    committed: sealed.committed,
    commit: true,
  };
}

/** What a store keeps of a retained bundle, enough to rebuild a replay's answer. */
export interface RetainedBundle {
  readonly rowsJson: string;
  readonly rowCount: number;
  readonly token: string | null;
  /** The schema version its rows are in (null: before versions; undefined: not said, newest). */
  readonly schemaVersion?: number | null | undefined;
}

/** The version mark {@link keptResponseJson} puts at the end of a kept answer. */
const VERSION_MARK = /,"schemaVersion":(null|\d+)\}$/;

/**
 * The answer pruning keeps for a replay once its bundle is gone: the answer's text, marked with
 * the schema version its rows are in, so that a replay after a migration is read in that version
 * ({@link replayOutcome} takes the mark off: the replay is the same text as the first answer).
 */
export function keptResponseJson(
  responseJson: string,
  schemaVersion: number | null | undefined,
): string {
  if (schemaVersion === undefined) return responseJson;
  return `${responseJson.slice(0, -1)},"schemaVersion":${schemaVersion === null ? 'null' : schemaVersion}}`;
}

/**
 * The answer of a replay of the source's last committed push: the copy pruning saved, else
 * rebuilt from its bundle while the bundle is retained (the same text, by construction). Pure;
 * a store reads `bundle` only when `source.response` is null.
 */
export function replayOutcome(
  source: StoredSource,
  bundle: RetainedBundle | undefined,
): PushOutcome {
  let responseJson = source.response;
  let rowCount: number;
  let schemaVersion: number | null | undefined;
  const mark = responseJson === null ? null : VERSION_MARK.exec(responseJson);
  if (responseJson !== null && mark !== null) {
    responseJson = `${responseJson.slice(0, mark.index)}}`;
    schemaVersion = mark[1] === 'null' ? null : Number(mark[1]);
  }
  if (responseJson === null) {
    if (!bundle) {
      throw new FerryError('internal', `bundle ${source.bundleSeq} of a source is missing`);
    }
    responseJson = pushResponseJson(
      source.lastCommitted,
      source.bundleSeq,
      bundle.rowsJson,
      bundle.token,
    );
    rowCount = bundle.rowCount;
    schemaVersion = bundle.schemaVersion;
  } else {
    rowCount = (JSON.parse(responseJson) as { rows: unknown[] }).rows.length;
  }
  return {
    kind: 'committed',
    replayed: true,
    bundleSeq: source.bundleSeq,
    rowCount,
    responseJson,
    ...(schemaVersion === undefined ? {} : { schemaVersion }),
  };
}

/** The integer keys the store allocated for the push's temporary inserts, by table. */
async function allocatedKeys(
  tx: PushTx,
  changes: readonly NormalizedChange[],
): Promise<Map<string, readonly PrimaryKey[]>> {
  const allocated = new Map<string, readonly PrimaryKey[]>();
  for (const [table, inserts] of temporaryInsertsByTable(changes)) {
    if (table.column(table.primaryKey)!.type !== 'integer') continue;
    allocated.set(table.name, await tx.allocateKeys(table, inserts.length));
  }
  return allocated;
}

/** The children a store found for each restrict check, as `decidePush` takes them. */
function childrenOf(
  checks: readonly RestrictCheck[],
  found: ReadonlyMap<number, readonly PrimaryKey[]>,
): Map<number, ReferencingChild[]> {
  const children = new Map<number, ReferencingChild[]>();
  for (const check of checks) {
    const { childTable, column } = check.reference;
    const rows = (found.get(check.index) ?? []).map((pk) => ({
      table: childTable,
      pk,
      key: rowKey(childTable, pk),
      column,
    }));
    children.set(check.index, [...(children.get(check.index) ?? []), ...rows]);
  }
  return children;
}

/** The conflicts of a push, each with the server's current row (null when deleted or absent). */
async function withServerRows(
  tx: PushTx,
  schema: Schema,
  drafts: readonly ConflictDraft[],
): Promise<Conflict[]> {
  const wanted = new Map<string, PrimaryKey[]>();
  for (const draft of drafts) {
    if (draft.serverVersion !== null && !draft.serverDeleted) {
      wanted.set(draft.table, [...(wanted.get(draft.table) ?? []), draft.pk]);
    }
  }
  const rows = new Map<string, WireRow>();
  for (const [table, pks] of wanted) {
    for (const [key, row] of await tx.readRows(schema.requireTable(table), pks)) {
      rows.set(key, row);
    }
  }
  return drafts.map(({ key, ...conflict }) => ({
    ...conflict,
    serverRow:
      conflict.serverVersion !== null && !conflict.serverDeleted ? (rows.get(key) ?? null) : null,
  }));
}

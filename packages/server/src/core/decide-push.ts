import {
  orderByRelations,
  type PrimaryKey,
  type Reference,
  type Schema,
  type ValidationError,
} from '@ferry/protocol';
import { rowKey, type NormalizedChange } from './validate-changes.js';

/**
 * The server's sync metadata of one row.
 *
 * Invariants:
 * 1. `rowVersion` strictly increases with every committed change of the row.
 * 2. A deleted row keeps its state as a tombstone, with the owner it had when deleted.
 */
export interface RowState {
  readonly owner: string;
  readonly rowVersion: number;
  readonly deleted: boolean;
}

/** A row named by table and primary key, with its {@link rowKey}. */
export interface RowRef {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly key: string;
}

/** What the server keeps about a source: its last committed push. */
export interface SourceState {
  /** The source's last committed `sourceBundleId` (0 before its first commit). */
  readonly lastCommitted: number;
  /**
   * `bundleDigest` of the changes that committed it; null for a bundle committed before the
   * server kept digests (and for a source that never committed).
   */
  readonly digest: string | null;
}

/** What to do with a push's `sourceBundleId` given the source's last committed one. */
export type SourceBundleDecision =
  | { readonly kind: 'commit' }
  | { readonly kind: 'replay' }
  | {
      readonly kind: 'bundle_gap' | 'stale_bundle' | 'bundle_mismatch';
      readonly lastCommitted: number;
    };

/**
 * Decides a push's `sourceBundleId` against the source's last committed push:
 *
 * | pushed id             | digest                          | decision          |
 * | --------------------- | ------------------------------- | ----------------- |
 * | `lastCommitted + 1`   | any                             | `commit`          |
 * | `lastCommitted` (> 0) | the stored one, or none stored  | `replay`          |
 * | `lastCommitted` (> 0) | another one                     | `bundle_mismatch` |
 * | higher                | any                             | `bundle_gap`      |
 * | lower                 | any                             | `stale_bundle`    |
 *
 * A resend with other changes under a committed id is not a retry: another install shares the
 * `sourceId` (a copied client file), and answering it as a replay would drop its writes
 * silently. A bundle committed before digests were kept replays as it always did.
 */
export function decideSourceBundle(
  source: SourceState,
  push: { readonly sourceBundleId: number; readonly digest: string },
): SourceBundleDecision {
  const { lastCommitted } = source;
  if (push.sourceBundleId === lastCommitted + 1) return { kind: 'commit' };
  if (push.sourceBundleId === lastCommitted && lastCommitted > 0) {
    return source.digest === null || source.digest === push.digest
      ? { kind: 'replay' }
      : { kind: 'bundle_mismatch', lastCommitted };
  }
  return push.sourceBundleId > lastCommitted
    ? { kind: 'bundle_gap', lastCommitted }
    : { kind: 'stale_bundle', lastCommitted };
}

/** A delete whose row may still be referenced through an `onDelete: 'restrict'` reference. */
export interface RestrictCheck {
  /** Index of the delete change. */
  readonly index: number;
  readonly reference: Reference;
  readonly parentPk: PrimaryKey;
}

/** The stored state a store must read before it can call {@link decidePush}. */
export interface PushLookups {
  /** Rows whose {@link RowState} is needed: the changed rows and every referenced parent. */
  readonly rows: readonly RowRef[];
  /** Deletes to check for children that still reference them. */
  readonly restrict: readonly RestrictCheck[];
}

/** Lists what a store must read for {@link decidePush}; each row once. */
export function pushLookups(changes: readonly NormalizedChange[]): PushLookups {
  const rows = new Map<string, RowRef>();
  const restrict: RestrictCheck[] = [];
  for (const change of changes) {
    rows.set(change.key, { table: change.table.name, pk: change.pk, key: change.key });
    if (change.op === 'upsert') {
      for (const reference of change.table.references) {
        const value = change.row![reference.column];
        if (value === null || value === undefined) continue;
        const pk = value as PrimaryKey;
        const key = rowKey(reference.parentTable, pk);
        if (!rows.has(key)) rows.set(key, { table: reference.parentTable, pk, key });
      }
    } else {
      for (const reference of change.table.referencedBy) {
        if (reference.onDelete === 'restrict') {
          restrict.push({ index: change.index, reference, parentPk: change.pk });
        }
      }
    }
  }
  return { rows: [...rows.values()], restrict };
}

/** A conflicting change, before the store adds the server's current row. */
export interface ConflictDraft {
  readonly index: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly key: string;
  readonly op: 'upsert' | 'delete';
  readonly baseVersion: number | null;
  readonly serverVersion: number | null;
  readonly serverDeleted: boolean;
}

/** A change refused with 403 because its row belongs to another user. */
export interface ForbiddenChange {
  readonly index: number;
  readonly table: string;
  readonly pk: PrimaryKey;
}

/** Input of {@link decidePush}. */
export interface PushDecisionInput {
  readonly schema: Schema;
  readonly userId: string;
  readonly changes: readonly NormalizedChange[];
  /** States of the rows named by {@link pushLookups}; a missing key means "never existed". */
  readonly rowStates: ReadonlyMap<string, RowState>;
  /** For each {@link RestrictCheck} index: the child rows that currently reference the parent. */
  readonly restrictedChildren: ReadonlyMap<number, readonly ReferencingChild[]>;
  /**
   * Tombstones at versions up to this were purged with the user's pruned history (0: none); see
   * {@link conflictsWithState}.
   */
  readonly tombstoneFloor?: number | undefined;
}

/**
 * Whether a change conflicts with its row's state on the server (`undefined`: the server keeps
 * no state of the row, it never had it or purged its tombstone at or below `tombstoneFloor`).
 *
 * | change | row state kept | no row state |
 * |---|---|---|
 * | upsert, `baseVersion: null` | conflict | none; with `maybePushed`, or `columns` (made on a base row whose version the device lost with a history), and a floor above 0, conflict (it may be a row deleted since, whose tombstone is gone) |
 * | upsert on a version | conflict unless it is the row's; none when the row is alive and the change writes only counters ({@link writesOnlyCounters}) | conflict, unless `baseDeleted` at or below the floor (a re-creation over a purged tombstone) |
 * | delete | conflict unless on the row's version; none on an append-only table (its rows never change) | none (no effect) |
 */
export function conflictsWithState(
  change: Pick<
    NormalizedChange,
    | 'table'
    | 'op'
    | 'baseVersion'
    | 'baseDeleted'
    | 'maybePushed'
    | 'baseUnversioned'
    | 'writes'
    | 'deltas'
  >,
  state: Pick<RowState, 'rowVersion' | 'deleted'> | undefined,
  tombstoneFloor: number,
): boolean {
  if (state !== undefined) {
    if (change.baseVersion === state.rowVersion) return false;
    if (change.op === 'delete') return !change.table.appendOnly;
    return !(change.baseVersion !== null && !state.deleted && writesOnlyCounters(change));
  }
  if (change.op === 'delete') return false;
  if (change.baseVersion === null) {
    return (change.maybePushed === true || change.baseUnversioned === true) && tombstoneFloor > 0;
  }
  return !(change.baseDeleted === true && change.baseVersion <= tombstoneFloor);
}

/**
 * Whether an upsert writes nothing but counters it carries a delta for (besides the owner
 * column, always written): such a change commutes with any other, so it needs no base.
 */
export function writesOnlyCounters(
  change: Pick<NormalizedChange, 'writes' | 'deltas' | 'table'>,
): boolean {
  const { deltas, writes } = change;
  if (deltas === undefined || writes === undefined) return false;
  const counters = writes.filter((name) => name !== change.table.owner);
  return counters.length > 0 && counters.every((name) => Object.hasOwn(deltas, name));
}

/** A child row found by a {@link RestrictCheck}. */
export interface ReferencingChild extends RowRef {
  readonly column: string;
}

/**
 * What a push does, decided from the stored state. In order of precedence: `forbidden` (a row
 * of another user is named), `invalid` (a reference that would dangle), `conflict` (a stale
 * `baseVersion`), else `apply` with the changes to write in relation order (parents first for
 * upserts, children first for deletes), deletes that have no effect left out.
 */
export type PushDecision =
  | { readonly kind: 'forbidden'; readonly changes: readonly ForbiddenChange[] }
  | { readonly kind: 'invalid'; readonly errors: readonly ValidationError[] }
  | { readonly kind: 'conflict'; readonly conflicts: readonly ConflictDraft[] }
  | { readonly kind: 'apply'; readonly changes: readonly NormalizedChange[] };

/**
 * Decides a push from its validated changes and the stored state of the rows they name.
 * Pure: every store (SQLite, PostgreSQL) reads the state inside its transaction and calls this.
 */
export function decidePush(input: PushDecisionInput): PushDecision {
  const { userId, changes, rowStates } = input;

  const forbidden: ForbiddenChange[] = [];
  for (const change of changes) {
    const state = rowStates.get(change.key);
    if (state && state.owner !== userId) {
      forbidden.push({ index: change.index, table: change.table.name, pk: change.pk });
    }
  }
  if (forbidden.length > 0) return { kind: 'forbidden', changes: forbidden };

  const inBundle = new Map(changes.map((change) => [change.key, change]));
  const errors: ValidationError[] = [];
  for (const change of changes) {
    if (change.op !== 'upsert') continue;
    for (const reference of change.table.references) {
      const value = change.row![reference.column];
      if (value === null || value === undefined) continue;
      const key = rowKey(reference.parentTable, value as PrimaryKey);
      const sibling = inBundle.get(key);
      const state = rowStates.get(key);
      const alive =
        sibling !== undefined
          ? sibling.op === 'upsert'
          : state !== undefined && !state.deleted && state.owner === userId;
      if (!alive) {
        errors.push({
          index: change.index,
          table: change.table.name,
          pk: change.pk,
          code: 'fk_violation',
          column: reference.column,
          message: `${reference.column} references ${reference.parentTable} ${JSON.stringify(value)}, which does not exist`,
        });
      }
    }
  }
  for (const [index, children] of input.restrictedChildren) {
    const change = changes.find((c) => c.index === index)!;
    const state = rowStates.get(change.key);
    if (!state || state.deleted) continue;
    const blocking = children.filter((child) => {
      const sibling = inBundle.get(child.key);
      if (!sibling) return true;
      if (sibling.op === 'delete') return false;
      return sibling.row![child.column] === change.pk;
    });
    if (blocking.length > 0) {
      errors.push({
        index,
        table: change.table.name,
        pk: change.pk,
        code: 'fk_violation',
        message: `${change.table.name} ${String(change.pk)} is still referenced by ${blocking.length} row(s) of ${blocking[0]!.table}`,
      });
    }
  }
  if (errors.length > 0) {
    return { kind: 'invalid', errors: errors.sort((a, b) => a.index - b.index) };
  }

  const conflicts: ConflictDraft[] = [];
  const effective: NormalizedChange[] = [];
  for (const change of changes) {
    const state = rowStates.get(change.key);
    const conflicting = conflictsWithState(change, state, input.tombstoneFloor ?? 0);
    if (conflicting) {
      conflicts.push({
        index: change.index,
        table: change.table.name,
        pk: change.pk,
        key: change.key,
        op: change.op,
        baseVersion: change.baseVersion,
        serverVersion: state?.rowVersion ?? null,
        serverDeleted: state?.deleted ?? false,
      });
      continue;
    }
    // A delete of a row the server never had, or of a tombstone: no effect.
    if (change.op === 'delete' && (state === undefined || state.deleted)) continue;
    // Deltas add to a live row; a row inserted (or re-created) takes the row's values.
    const inserted = state === undefined || state.deleted;
    effective.push(
      inserted && change.deltas !== undefined ? { ...change, deltas: undefined } : change,
    );
  }
  if (conflicts.length > 0) return { kind: 'conflict', conflicts };
  const ordered = orderByRelations(
    input.schema.graph,
    effective.map((change) => ({ table: change.table.name, op: change.op, change })),
  ).map((entry) => entry.change);
  return { kind: 'apply', changes: ordered };
}

/**
 * Pure conflict logic shared by every client: the three-way field merge, the built-in
 * resolvers (server-wins, client-wins, field-merge, manual) and the outcome decision that wraps
 * any resolver with the rules no resolver may break (bounded retries, nothing to push when both
 * sides deleted, a throwing or malformed custom resolver becomes a manual conflict).
 *
 * @module
 */
import type { PrimaryKey } from './wire.js';
import type { BuiltinConflictPolicy, Column, Row, Table } from './schema.js';
import { withCountersRebased } from './counters.js';
import { mergeBoth } from './merge-rules.js';
import { valuesEqual } from './values-equal.js';

export { valuesEqual };

/**
 * What a resolver decides for one conflicting row.
 *
 * - `adopt-server`: drop the local intent for this row; the server's row stands.
 * - `rebase`: push again against the server's current version: `row` is the row to upsert, or
 *   `null` to delete it.
 * - `manual`: keep the local intent, stop pushing the row, and record a conflict the app
 *   resolves (`client.conflicts()` / `client.resolveConflict`).
 */
export type ResolverOutcome =
  | { readonly kind: 'adopt-server' }
  | { readonly kind: 'rebase'; readonly row: Row | null }
  | { readonly kind: 'manual'; readonly reason: string };

/** Facts about a conflict that a resolver may use besides the three rows. */
export interface ConflictContext {
  readonly table: Table;
  readonly pk: PrimaryKey;
  /** The row's version on the server, or null when the server never had it. */
  readonly serverVersion: number | null;
  /** The server has the row as a tombstone. */
  readonly serverDeleted: boolean;
  /** How many times this row has already been rebased and retried. */
  readonly attempts: number;
}

/**
 * A conflict resolver: a pure function of the local row, the base (last-synced copy the local
 * change started from) and the server's current row. `null` stands for "no row": deleted
 * locally, not existing at base, or deleted (or never created) on the server.
 *
 * Must not throw and must not have side effects; it may be called more than once for the same
 * conflict.
 */
export type ConflictResolver = (
  local: Row | null,
  base: Row | null,
  server: Row | null,
  context: ConflictContext,
) => ResolverOutcome;

/** Result of {@link mergeFields}. */
export interface FieldMerge {
  /** The merged row: every column of the table. */
  readonly row: Row;
  /** Client columns changed only locally (kept from the local row). */
  readonly localOnly: readonly string[];
  /** Client columns changed only on the server (taken from the server row). */
  readonly serverOnly: readonly string[];
  /** Client columns changed on both sides to different values. */
  readonly both: readonly string[];
  /**
   * The columns of `both` whose rule is `manual`: left undecided (the row holds the server's
   * value there). A merge with any is no settlement: {@link fieldMerge} makes it a manual
   * conflict.
   */
  readonly manual: readonly string[];
}

/**
 * Three-way merge of one row against its base (the last-synced copy).
 *
 * For each column a client writes (not the primary key, the owner column or server-derived
 * columns, which always come from the server):
 * 1. local equals server: that value;
 * 2. only the server changed it (local equals base): the server's value;
 * 3. only the client changed it (server equals base): the local value;
 * 4. both changed it to different values: the column's `merge` rule (`server` by default;
 *    `manual` leaves it undecided, listed in `manual`, with the server's value in the row; the
 *    value rules `max`, `min`, `union` and `{ latest }` decide by the values, see
 *    {@link mergeBoth}).
 *
 * A `null` base means there is no common ancestor: every differing column counts as changed on
 * both sides (see {@link changedSinceBase}). A column the local row does not carry (a row made
 * before the app's update added the column) takes the server's value: the device never wrote it.
 *
 * @example
 * mergeFields(todos, { title: 'milk', done: true }, { title: 'milk', done: false },
 *   { title: 'oat milk', done: false }).row; // { title: 'oat milk', done: true, … }
 */
export function mergeFields(table: Table, local: Row, base: Row | null, server: Row): FieldMerge {
  const row: Row = {};
  const localOnly: string[] = [];
  const serverOnly: string[] = [];
  const both: string[] = [];
  const manual: string[] = [];
  for (const column of table.columns) {
    const name = column.name;
    const s = valueOf(server, name);
    if (!isMergedColumn(column)) {
      row[name] = s;
      continue;
    }
    const l = valueOf(local, name);
    if (!(name in local)) {
      // A local row without the column never wrote it (made before its app's update added it).
      row[name] = s;
      if (changedSinceBase(server, server, base, name)) serverOnly.push(name);
    } else if (valuesEqual(l, s)) {
      row[name] = s;
    } else if (!changedSinceBase(local, server, base, name)) {
      row[name] = s;
      serverOnly.push(name);
    } else if (!changedSinceBase(server, local, base, name)) {
      row[name] = l;
      localOnly.push(name);
    } else {
      const merged = mergeBoth(column, {
        local: l,
        server: s,
        base: base === null ? undefined : valueOf(base, name),
        localRow: local,
        serverRow: server,
      });
      // `manual`: undecided, the server's value holds the place.
      row[name] = merged === undefined ? s : merged;
      both.push(name);
      if (merged === undefined) manual.push(name);
    }
  }
  return { row, localOnly, serverOnly, both, manual };
}

/**
 * Whether one side of a conflict changed `column` since the base: its value differs from the
 * base's, or, without a base (no common ancestor), from the other side's. The one definition of
 * "changed" for the merge and for {@link lostValuesOf}.
 */
export function changedSinceBase(side: Row, other: Row, base: Row | null, column: string): boolean {
  return !valuesEqual(valueOf(side, column), valueOf(base ?? other, column));
}

/**
 * Whether a merge decides the column: every column a client writes except the primary key and
 * the owner column (those and server-derived columns always come from the server).
 */
export function isMergedColumn(column: Column): boolean {
  return !column.isPrimaryKey && !column.isOwner && column.serverDerived === undefined;
}

/** `server-wins`: the server's row stands, whatever happened locally. */
export const serverWins: ConflictResolver = () => ({ kind: 'adopt-server' });

/**
 * `client-wins`: the local intent is pushed again against the server's version. A local
 * delete deletes; a row the server deleted is re-created from the local row. Counters still
 * add up: each is the server's value plus what the device added since its base.
 */
export const clientWins: ConflictResolver = (local, base, server, context) => ({
  kind: 'rebase',
  row:
    local === null || server === null
      ? local
      : withCountersRebased(context.table, local, base, server),
});

/**
 * `field-merge` (the default policy):
 * - both rows alive: {@link mergeFields}; when the merge equals the server's row the server's
 *   row is adopted, else the merged row is pushed; a column changed on both sides whose rule is
 *   `manual` makes the row a manual conflict instead;
 * - deleted locally, changed on the server: the delete is pushed again (a delete wins over an
 *   edit);
 * - changed locally, deleted on the server: a manual conflict (never a silent resurrection or
 *   loss).
 */
export const fieldMerge: ConflictResolver = (local, base, server, context) => {
  if (local === null) return { kind: 'rebase', row: null };
  if (server === null) {
    return {
      kind: 'manual',
      reason: context.serverDeleted
        ? 'the row was deleted on the server while it was changed locally'
        : 'the row does not exist on the server',
    };
  }
  const merge = mergeFields(context.table, local, base, server);
  if (merge.manual.length > 0) {
    return {
      kind: 'manual',
      reason: `changed on both sides, and the merge rule of ${merge.manual.join(', ')} is manual`,
    };
  }
  if (merge.localOnly.length === 0 && clientColumnsEqual(context.table, merge.row, server)) {
    return { kind: 'adopt-server' };
  }
  return { kind: 'rebase', row: merge.row };
};

/** `manual`: every conflict waits for the app. */
export const manualResolver: ConflictResolver = () => ({
  kind: 'manual',
  reason: 'the table resolves conflicts manually',
});

/** The built-in resolvers by policy name. */
export const BUILTIN_RESOLVERS: Readonly<Record<BuiltinConflictPolicy, ConflictResolver>> = {
  'server-wins': serverWins,
  'client-wins': clientWins,
  'field-merge': fieldMerge,
  manual: manualResolver,
};

/** Input of {@link decideConflictOutcome}. */
export interface ConflictDecisionInput {
  readonly resolver: ConflictResolver;
  readonly local: Row | null;
  readonly base: Row | null;
  readonly server: Row | null;
  readonly context: ConflictContext;
  /** Rebases allowed per row before the conflict becomes manual (e.g. 3). */
  readonly maxAttempts: number;
}

/**
 * Decides a conflict: runs the resolver under the rules that hold for every policy.
 *
 * 1. Deleted on both sides: `adopt-server` (nothing left to push), whatever the resolver says.
 * 2. A row already rebased `maxAttempts` times: `manual` (never an endless retry loop).
 * 3. A resolver that throws or returns something that is not an outcome: `manual`, with the
 *    reason (never a silent drop).
 * 4. A `rebase` whose row equals the server's row on every client column: `adopt-server`
 *    (nothing to push).
 */
export function decideConflictOutcome(input: ConflictDecisionInput): ResolverOutcome {
  const { local, base, server, context } = input;
  if (local === null && server === null) return { kind: 'adopt-server' };
  if (context.attempts >= input.maxAttempts) {
    return {
      kind: 'manual',
      reason: `still conflicting after ${context.attempts} automatic retries`,
    };
  }
  let outcome: unknown;
  try {
    outcome = input.resolver(local, base, server, context);
  } catch (error) {
    return {
      kind: 'manual',
      reason: `the resolver threw: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (!isResolverOutcome(outcome)) {
    return { kind: 'manual', reason: 'the resolver returned no valid outcome' };
  }
  if (
    outcome.kind === 'rebase' &&
    outcome.row !== null &&
    server !== null &&
    clientColumnsEqual(context.table, outcome.row, server)
  ) {
    return { kind: 'adopt-server' };
  }
  return outcome;
}

/** True when `value` is a {@link ResolverOutcome}. */
export function isResolverOutcome(value: unknown): value is ResolverOutcome {
  if (typeof value !== 'object' || value === null) return false;
  const outcome = value as Record<string, unknown>;
  switch (outcome['kind']) {
    case 'adopt-server':
      return true;
    case 'manual':
      return typeof outcome['reason'] === 'string';
    case 'rebase': {
      const row = outcome['row'];
      return row === null || (typeof row === 'object' && row !== undefined && !Array.isArray(row));
    }
    default:
      return false;
  }
}

/** True when two rows agree on every column a client writes (see {@link mergeFields}). */
export function clientColumnsEqual(table: Table, a: Row, b: Row): boolean {
  for (const column of table.clientColumns) {
    if (column.isOwner) continue;
    if (!valuesEqual(valueOf(a, column.name), valueOf(b, column.name))) return false;
  }
  return true;
}

/**
 * The columns an upsert changed: those of `row` whose value differs from the server row `base`
 * it was made on ({@link changedSinceBase}), in `row`'s key order. This is the `columns` list of a
 * pushed upsert: the server writes only these to a row it has.
 */
export function changedColumns(row: Row, base: Row): string[] {
  const changed: string[] = [];
  for (const name of Object.keys(row)) {
    if (changedSinceBase(row, base, base, name)) changed.push(name);
  }
  return changed;
}

function valueOf(row: Row, column: string): unknown {
  const value = row[column];
  return value === undefined ? null : value;
}

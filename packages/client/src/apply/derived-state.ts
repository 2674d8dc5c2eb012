/**
 * Derived state: tables (or any local state) an app computes from synced rows, rebuilt inside
 * the transaction that applies server data, after the rows and before the integrity gate lets
 * the page commit, so that no reader (a live query included) ever sees synced rows without
 * what derives from them. A rebuild that throws rolls the whole page back, as the gate does,
 * and fails the cycle with `derived_rebuild_failed` (retried with backoff).
 *
 * Pure: the order of the rebuilds and the rows each one is told of. The shell is
 * `rebuildDerived` in `rebuild-derived.ts`.
 *
 * @module
 */
import { FerryError, type PrimaryKey, type Schema } from '@ferry/protocol';
import type { SqlRow, SqlValue } from '../driver/sqlite-driver.js';

/** What a rebuild may do: SQL inside the applying transaction. */
export interface DerivedTransaction {
  run(sql: string, params?: readonly SqlValue[]): Promise<{ readonly changes: number }>;
  all<R extends SqlRow = SqlRow>(sql: string, params?: readonly SqlValue[]): Promise<R[]>;
}

/** The synced rows a page changed, by table; `all` after a snapshot (everything may have). */
export interface ChangedRows {
  readonly all: boolean;
  /** Keys of the changed rows of each table the rebuild depends on (empty with `all`). */
  readonly keys: ReadonlyMap<string, readonly PrimaryKey[]>;
}

/**
 * A piece of derived state. It writes only to local tables of its own (not synced tables:
 * the applying transaction captures nothing, so a write there would never reach the server).
 *
 * @example
 * const listCounts: DerivedState = {
 *   name: 'list_counts',
 *   dependsOn: ['todos'],
 *   async rebuild(tx) {
 *     await tx.run('DELETE FROM list_counts');
 *     await tx.run('INSERT INTO list_counts SELECT list_id, count(*) FROM todos GROUP BY list_id');
 *   },
 * };
 */
export interface DerivedState {
  /** Its name (the table it fills, by convention): other derived state may depend on it. */
  readonly name: string;
  /** The synced tables (and derived states) it is computed from. */
  readonly dependsOn: readonly string[];
  rebuild(tx: DerivedTransaction, changed: ChangedRows): Promise<void> | void;
}

/**
 * The derived states in the order they rebuild: after every derived state they depend on, and
 * otherwise by the relation graph (parents first: a state of todos after one of lists). Refuses
 * an unknown dependency, a duplicate name, a name that is a synced table, and a cycle.
 */
export function orderDerived(schema: Schema, derived: readonly DerivedState[]): DerivedState[] {
  const names = new Set<string>();
  for (const entry of derived) {
    if (
      typeof entry.name !== 'string' ||
      entry.name === '' ||
      typeof entry.rebuild !== 'function'
    ) {
      throw new FerryError(
        'invalid_argument',
        'each derived state needs a name and a rebuild function',
      );
    }
    if (names.has(entry.name)) {
      throw new FerryError('invalid_argument', `derived state "${entry.name}" is declared twice`);
    }
    if (schema.table(entry.name)) {
      throw new FerryError('invalid_argument', `derived state "${entry.name}" is a synced table`);
    }
    names.add(entry.name);
  }
  for (const entry of derived) {
    for (const dependency of entry.dependsOn) {
      if (!schema.table(dependency) && !names.has(dependency)) {
        throw new FerryError(
          'invalid_argument',
          `derived state "${entry.name}" depends on "${dependency}", which is neither a synced table nor a derived state`,
        );
      }
    }
  }
  const rank = new Map(schema.tables.map((table, index) => [table.name, index]));
  const depth = (entry: DerivedState) =>
    Math.max(-1, ...entry.dependsOn.map((name) => rank.get(name) ?? -1));
  const pending = [...derived].sort((a, b) => depth(a) - depth(b));
  const ordered: DerivedState[] = [];
  const done = new Set<string>();
  while (pending.length > 0) {
    const next = pending.findIndex((entry) =>
      entry.dependsOn.every((name) => !names.has(name) || done.has(name)),
    );
    if (next < 0) {
      throw new FerryError(
        'invalid_argument',
        `derived states depend on each other in a cycle: ${pending.map((e) => e.name).join(', ')}`,
      );
    }
    const [entry] = pending.splice(next, 1);
    ordered.push(entry!);
    done.add(entry!.name);
  }
  return ordered;
}

/**
 * Which derived states a change touches and what each is told: a state runs when a table it
 * depends on changed (or a derived state it depends on ran), with the changed keys of its own
 * tables. `changed` null means a snapshot: every state runs, told `all`.
 */
export function derivedRuns(
  ordered: readonly DerivedState[],
  changed: ReadonlyMap<string, readonly PrimaryKey[]> | null,
): { readonly entry: DerivedState; readonly changed: ChangedRows }[] {
  const runs: { entry: DerivedState; changed: ChangedRows }[] = [];
  const ran = new Set<string>();
  for (const entry of ordered) {
    if (changed === null) {
      runs.push({ entry, changed: { all: true, keys: new Map() } });
      ran.add(entry.name);
      continue;
    }
    const keys = new Map<string, readonly PrimaryKey[]>();
    for (const name of entry.dependsOn) {
      const rows = changed.get(name);
      if (rows && rows.length > 0) keys.set(name, rows);
    }
    if (keys.size === 0 && !entry.dependsOn.some((name) => ran.has(name))) continue;
    runs.push({ entry, changed: { all: false, keys } });
    ran.add(entry.name);
  }
  return runs;
}

/** The keys a page's row effects changed, by table. */
export function changedKeysOf(
  effects: Iterable<{ readonly table: string; readonly pk: PrimaryKey }>,
): Map<string, PrimaryKey[]> {
  const keys = new Map<string, PrimaryKey[]>();
  for (const { table, pk } of effects) {
    let list = keys.get(table);
    if (!list) keys.set(table, (list = []));
    list.push(pk);
  }
  return keys;
}

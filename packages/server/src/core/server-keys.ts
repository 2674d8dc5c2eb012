/**
 * Server-assigned keys (`keys: 'server'`): which changes of a push insert rows under temporary
 * keys, and the push rewritten to the real keys the server assigned. Pure; the store allocates
 * integer keys (`PushTx.allocateKeys`), uuids are drawn here.
 *
 * @module
 */
import { randomUUID } from 'node:crypto';
import type { PrimaryKey, Table, WireRow } from '@ferry/protocol';
import { isTemporaryInsert, rowKey, type NormalizedChange } from './validate-changes.js';

/** The changes of `changes` that insert under a temporary key, grouped by table. */
export function temporaryInsertsByTable(
  changes: readonly NormalizedChange[],
): Map<Table, NormalizedChange[]> {
  const byTable = new Map<Table, NormalizedChange[]>();
  for (const change of changes) {
    if (change.op !== 'upsert' || !isTemporaryInsert(change.table, change.baseVersion, undefined))
      continue;
    if (change.baseUnversioned === true) continue;
    byTable.set(change.table, [...(byTable.get(change.table) ?? []), change]);
  }
  return byTable;
}

/** A push with its temporary keys replaced by the keys the server assigned. */
export interface KeyedPush {
  readonly changes: readonly NormalizedChange[];
  /** For each rewritten insert's index: the temporary key it was pushed with. */
  readonly temporary: ReadonlyMap<number, PrimaryKey>;
  /** For each inserted row (`rowKey` of its real key): the temporary key, for its effect. */
  readonly tempKeys: ReadonlyMap<string, PrimaryKey>;
}

/**
 * Rewrites a push to the server's keys: each temporary insert takes the next key of its table
 * (`allocated`, in the order of the push; uuid tables draw a random uuid when none is given),
 * and every reference to a temporary key of the same push, in any upsert's row, takes the real
 * key. A reference to a temporary key the push does not insert stays as it is (it dangles and is
 * refused as `fk_violation`, like any reference to a row that does not exist).
 */
export function assignServerKeys(
  changes: readonly NormalizedChange[],
  allocated: ReadonlyMap<string, readonly PrimaryKey[]> = new Map(),
): KeyedPush {
  const inserts = temporaryInsertsByTable(changes);
  if (inserts.size === 0) return { changes, temporary: new Map(), tempKeys: new Map() };
  /** Per table: temporary key (by `rowKey`) → real key. */
  const realOf = new Map<string, PrimaryKey>();
  const temporary = new Map<number, PrimaryKey>();
  const tempKeys = new Map<string, PrimaryKey>();
  for (const [table, rows] of inserts) {
    const keys = allocated.get(table.name) ?? [];
    rows.forEach((change, i) => {
      const real =
        keys[i] ?? (table.column(table.primaryKey)!.type === 'uuid' ? randomUUID() : undefined);
      if (real === undefined) {
        throw new Error(`no key was allocated for insert ${i} of ${table.name}`);
      }
      realOf.set(change.key, real);
      temporary.set(change.index, change.pk);
      tempKeys.set(rowKey(table.name, real), change.pk);
    });
  }
  const rewritten = changes.map((change): NormalizedChange => {
    if (change.op !== 'upsert' || change.row === undefined) return change;
    const table = change.table;
    let row: WireRow | undefined;
    for (const reference of table.references) {
      const value = change.row[reference.column];
      if (value === null || value === undefined) continue;
      const real = realOf.get(rowKey(reference.parentTable, value as PrimaryKey));
      if (real === undefined) continue;
      row ??= { ...change.row };
      row[reference.column] = real;
    }
    const ownReal = temporary.has(change.index) ? realOf.get(change.key) : undefined;
    if (ownReal !== undefined) {
      row ??= { ...change.row };
      row[table.primaryKey] = ownReal;
      // A new key has no history: a claim about one (`maybePushed`: an insert an earlier install
      // may have pushed) cannot apply to it.
      return {
        ...change,
        pk: ownReal,
        key: rowKey(table.name, ownReal),
        row,
        maybePushed: false,
      };
    }
    return row === undefined ? change : { ...change, row };
  });
  return { changes: rewritten, temporary, tempKeys };
}

/**
 * Entries of a refusal (errors, conflicts, refused changes), each with the key its change was
 * pushed with: a temporary insert is named by its temporary key, never by a key that did not
 * commit.
 */
export function withPushedKeys<
  E extends { readonly index: number; readonly pk: PrimaryKey | null },
>(entries: readonly E[], temporary: ReadonlyMap<number, PrimaryKey>): E[] {
  if (temporary.size === 0) return [...entries];
  return entries.map((entry) => {
    const pk = temporary.get(entry.index);
    return pk === undefined ? entry : { ...entry, pk };
  });
}

/**
 * The row a backend insert (`BackendWriteTx.insert`) writes: as given when it names its key or
 * its table's keys are the client's (a missing key is then refused by validation like any
 * other), else with the key the server assigns: the next of the table's sequence (`allocate`,
 * the same sequence that keys pushed inserts, so the two never meet) or a random uuid.
 */
export async function withServerKey(
  table: Table | undefined,
  row: WireRow,
  allocate: (table: Table) => Promise<PrimaryKey>,
): Promise<WireRow> {
  if (table === undefined || !table.serverKeys) return row;
  const given = row[table.primaryKey];
  if (given !== undefined && given !== null) return row;
  const key =
    table.column(table.primaryKey)!.type === 'uuid' ? randomUUID() : await allocate(table);
  return { ...row, [table.primaryKey]: key };
}

/**
 * Server-assigned keys on the client (`keys: 'server'`): a row inserted under a temporary key
 * takes the key the server assigned, in one transaction, everywhere the file names it; and the
 * bundle in flight is sent again, or digested, as it was pushed (with its temporary keys).
 *
 * @module
 */
import type { PrimaryKey, Row, RowEffect, Schema, Table } from '@ferry/protocol';
import type { TableCodec } from './table-codec.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import type { Executor, FrozenBundle, FrozenChange } from './metadata.js';
import { quoteIdent, quoteLiteral } from './local-schema-sql.js';

/** One assigned key: the row `table` inserted under `temp` is `pk` on the server. */
export interface AssignedKey {
  readonly table: string;
  readonly temp: PrimaryKey;
  readonly pk: PrimaryKey;
}

/** The keys a committed bundle's effects say the server assigned (their `tempKey`). */
export function assignedKeysOf(effects: readonly RowEffect[]): AssignedKey[] {
  const keys: AssignedKey[] = [];
  for (const effect of effects) {
    if (effect.op === 'upsert' && effect.tempKey !== undefined) {
      keys.push({ table: effect.table, temp: effect.tempKey, pk: effect.pk });
    }
  }
  return keys;
}

/** The tables a remap of `keys` may rewrite: each keyed table and every table referencing it. */
export function tablesOfRemap(schema: Schema, keys: readonly AssignedKey[]): string[] {
  const tables = new Set<string>();
  for (const key of keys) {
    const table = schema.table(key.table);
    if (!table) continue;
    tables.add(table.name);
    for (const reference of table.referencedBy) tables.add(reference.childTable);
  }
  return [...tables];
}

/**
 * Gives the rows of `keys` their server keys, inside the caller's transaction, which must run
 * with foreign keys off (a server copy of the row that a snapshot already brought is replaced,
 * and its children must not cascade). For each key, the row's current local key is the
 * temporary one, or the key an earlier answer gave it (a bundle sent again after its server lost
 * the commit gets new keys); from it, to the server's key:
 * 1. the row (a server copy under the new key, if any, makes way) and every reference to it in
 *    local tables, with capture off (the server wrote the same);
 * 2. the capture log, the outbox, the bundle in flight (its keys and the references in its
 *    rows), dead letters, manual conflicts and the settled-conflict journal;
 * 3. `ferry_key_map` records temporary → server key with the bundle that assigned it, for writes
 *    and reads that still name the temporary key, and for sending that bundle again as it was.
 * Idempotent. Returns the keys that moved a row or an entry.
 */
export async function remapTemporaryKeys(
  tx: Executor,
  schema: Schema,
  codecs: ReadonlyMap<string, TableCodec>,
  keys: readonly AssignedKey[],
  origin: { readonly sourceId: string | null; readonly sourceBundleId: number | null },
  now: number,
): Promise<AssignedKey[]> {
  if (keys.length === 0) return [];
  const [capture] = await tx.all<{ applying: number }>(
    'SELECT applying FROM ferry_capture WHERE id = 1',
  );
  const wasApplying = capture?.applying === 1;
  if (!wasApplying) await tx.run('UPDATE ferry_capture SET applying = 1 WHERE id = 1');
  const moved: AssignedKey[] = [];
  for (const key of keys) {
    const codec = codecs.get(key.table);
    if (!codec || !codec.table.serverKeys) continue;
    const table = codec.table;
    const temp = codec.encodePk(key.temp);
    const real = codec.encodePk(key.pk);
    const [mapped] = await tx.all<{ pk: unknown }>(
      'SELECT pk FROM ferry_key_map WHERE tbl = ? AND temp = ?',
      [table.name, temp],
    );
    const from = mapped === undefined ? temp : codec.encodePk(mapped.pk);
    const named = await moveKey(tx, table, from, real);
    if (named) moved.push(key);
    // A temporary key this file never had (another device's) is not recorded.
    if (named || mapped !== undefined) {
      await tx.run(
        `INSERT INTO ferry_key_map (tbl, temp, pk, source_id, source_bundle_id, at) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (tbl, temp) DO UPDATE SET pk = excluded.pk, source_id = excluded.source_id,
           source_bundle_id = excluded.source_bundle_id, at = excluded.at`,
        [table.name, temp, real, origin.sourceId, origin.sourceBundleId, now],
      );
    }
  }
  if (!wasApplying) await tx.run('UPDATE ferry_capture SET applying = 0 WHERE id = 1');
  return moved;
}

/** Moves everything the file holds under `from` to `to`; true when anything named `from`. */
async function moveKey(tx: Executor, table: Table, from: SqlValue, to: SqlValue): Promise<boolean> {
  if (from === to) return false;
  const t = quoteIdent(table.name);
  const pk = quoteIdent(table.primaryKey);
  const name = table.name;
  let touched = 0;
  const [present] = await tx.all(`SELECT 1 AS one FROM ${t} WHERE ${pk} = ?`, [from]);
  if (present !== undefined) {
    // A copy of the server's row under the new key (a snapshot or pull brought it before the
    // answer was read) makes way for the local row, which holds the app's edits as well.
    await tx.run(`DELETE FROM ${t} WHERE ${pk} = ?`, [to]);
    touched += (await tx.run(`UPDATE ${t} SET ${pk} = ? WHERE ${pk} = ?`, [to, from])).changes;
  }
  for (const reference of table.referencedBy) {
    const child = quoteIdent(reference.childTable);
    const column = quoteIdent(reference.column);
    await tx.run(`UPDATE ${child} SET ${column} = ? WHERE ${column} = ?`, [to, from]);
  }
  for (const metadata of KEYED_METADATA) {
    touched += (
      await tx.run(`UPDATE OR REPLACE ${metadata} SET pk = ? WHERE tbl = ? AND pk = ?`, [
        to,
        name,
        from,
      ])
    ).changes;
  }
  // The rows kept as JSON: the row's own key and references to it.
  const path = (column: string) => quoteLiteral(`$."${column}"`);
  for (const [metadata, columns] of ROW_METADATA) {
    for (const column of columns) {
      await tx.run(
        `UPDATE ${metadata} SET ${column} = json_set(${column}, ${path(table.primaryKey)}, json(?))
         WHERE tbl = ? AND pk = ? AND ${column} IS NOT NULL`,
        [JSON.stringify(to), name, to],
      );
      for (const reference of table.referencedBy) {
        await tx.run(
          `UPDATE ${metadata} SET ${column} = json_set(${column}, ${path(reference.column)}, json(?))
           WHERE tbl = ? AND ${column} IS NOT NULL AND json_extract(${column}, ${path(reference.column)}) = ?`,
          [JSON.stringify(to), reference.childTable, from],
        );
      }
    }
  }
  return touched > 0;
}

/** Metadata tables keyed by `(tbl, pk)` that can name a row inserted under a temporary key. */
const KEYED_METADATA = [
  'ferry_log',
  'ferry_outbox',
  'ferry_inflight',
  'ferry_dead_letters',
  'ferry_conflicts',
  'ferry_settled_conflicts',
] as const;

/** Metadata that keeps rows as JSON: the table and its columns holding a row. */
const ROW_METADATA: readonly (readonly [string, readonly string[]])[] = [
  ['ferry_inflight', ['row']],
  ['ferry_dead_letters', ['row']],
  ['ferry_conflicts', ['local']],
];

/**
 * The changes of a bundle as it was pushed: keys the answer to this very bundle assigned (`keys`)
 * are put back to the temporary keys the push named them by, in the inserted rows and in the
 * references to them, so the bundle sent again (or digested) is the same bundle. Pure.
 */
export function pushedChanges(
  schema: Schema,
  changes: readonly FrozenChange[],
  keys: readonly AssignedKey[],
): FrozenChange[] {
  if (keys.length === 0) return [...changes];
  const tempOf = new Map(keys.map((k) => [`${k.table}\u0000${String(k.pk)}`, k.temp]));
  const temp = (table: string, value: unknown) =>
    typeof value === 'number' || typeof value === 'string'
      ? tempOf.get(`${table}\u0000${String(value)}`)
      : undefined;
  return changes.map((change) => {
    const table = schema.table(change.tbl);
    if (!table || change.row === null) return change;
    let row: Row | undefined;
    for (const reference of table.references) {
      const was = temp(reference.parentTable, change.row[reference.column]);
      if (was === undefined) continue;
      row ??= { ...change.row };
      row[reference.column] = was;
    }
    const own =
      change.op === 'upsert' && change.baseVersion === null
        ? temp(table.name, change.pk)
        : undefined;
    if (own !== undefined) {
      row ??= { ...change.row };
      row[table.primaryKey] = own;
      return { ...change, pk: own, row };
    }
    return row === undefined ? change : { ...change, row };
  });
}

/** The bundle in flight as it was pushed (see {@link pushedChanges}). */
export async function asPushed(
  tx: Executor,
  schema: Schema,
  bundle: FrozenBundle,
): Promise<FrozenBundle> {
  const keys = await tx.all<{ tbl: string; temp: PrimaryKey; pk: PrimaryKey }>(
    'SELECT tbl, temp, pk FROM ferry_key_map WHERE source_id IS ? AND source_bundle_id = ?',
    [bundle.sourceId, bundle.sourceBundleId],
  );
  if (keys.length === 0) return bundle;
  return {
    ...bundle,
    changes: pushedChanges(
      schema,
      bundle.changes,
      keys.map((k) => ({ table: k.tbl, temp: k.temp, pk: k.pk })),
    ),
  };
}

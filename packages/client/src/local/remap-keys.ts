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
 * the commit gets new keys); from it, to the server's key, set-based (a fixed number of
 * statements per table, whatever the number of keys):
 * 1. the row (a server copy under the new key, if any, makes way) and every reference to it in
 *    local tables, with capture off (the server wrote the same);
 * 2. the capture log, the outbox, the bundle in flight (its keys and the references in its
 *    rows), dead letters, manual conflicts and the settled-conflict journal;
 * 3. `ferry_key_map` records temporary → server key with the bundle that assigned it, for writes
 *    and reads that still name the temporary key, and for sending that bundle again as it was.
 * A temporary key this file never had (another device's) is left out. Idempotent. Returns the
 * keys the file had.
 */
export async function remapTemporaryKeys(
  tx: Executor,
  schema: Schema,
  codecs: ReadonlyMap<string, TableCodec>,
  keys: readonly AssignedKey[],
  origin: { readonly sourceId: string | null; readonly sourceBundleId: number | null },
  now: number,
): Promise<AssignedKey[]> {
  const ours = keys.filter((key) => codecs.get(key.table)?.table.serverKeys === true);
  if (ours.length === 0) return [];
  const tables = [...new Set(ours.map((key) => key.table))].map((name) => codecs.get(name)!.table);
  await tx.run('DELETE FROM ferry_remap');
  for (let start = 0; start < ours.length; start += STAGE_ROWS) {
    const chunk = ours.slice(start, start + STAGE_ROWS);
    await tx.run(
      `INSERT OR IGNORE INTO ferry_remap (tbl, temp, src, pk)
       SELECT v.column1, v.column2, coalesce(m.pk, v.column2), v.column3
       FROM (VALUES ${chunk.map(() => '(?, ?, ?)').join(', ')}) AS v
       LEFT JOIN ferry_key_map m ON m.tbl = v.column1 AND m.temp = v.column2`,
      chunk.flatMap((key) => {
        const codec = codecs.get(key.table)!;
        return [key.table, codec.encodePk(key.temp), codec.encodePk(key.pk)];
      }),
    );
  }
  // Keys the file never had, under their temporary key or an earlier one, are not its own.
  for (const table of tables) {
    const named = [
      `EXISTS (SELECT 1 FROM ${quoteIdent(table.name)} x WHERE x.${quoteIdent(table.primaryKey)} = r.src)`,
      ...KEYED_METADATA.map(
        (m) => `EXISTS (SELECT 1 FROM ${m} x WHERE x.tbl = r.tbl AND x.pk = r.src)`,
      ),
      'EXISTS (SELECT 1 FROM ferry_key_map x WHERE x.tbl = r.tbl AND x.temp = r.temp)',
    ];
    await tx.run(`DELETE FROM ferry_remap AS r WHERE r.tbl = ? AND NOT (${named.join(' OR ')})`, [
      table.name,
    ]);
  }
  const staged = await tx.all<{ tbl: string; temp: PrimaryKey; src: PrimaryKey; pk: PrimaryKey }>(
    'SELECT tbl, temp, src, pk FROM ferry_remap',
  );
  if (staged.length === 0) return [];
  const [capture] = await tx.all<{ applying: number }>(
    'SELECT applying FROM ferry_capture WHERE id = 1',
  );
  const wasApplying = capture?.applying === 1;
  if (!wasApplying) await tx.run('UPDATE ferry_capture SET applying = 1 WHERE id = 1');
  const moving = (tbl: string) =>
    `SELECT r.src FROM ferry_remap r WHERE r.tbl = ${quoteLiteral(tbl)} AND r.src IS NOT r.pk`;
  // `+column`: compared without the column's affinity, so the lookup uses the staging table's
  // key (an INTEGER column against the untyped `src` would scan it for every row).
  const target = (tbl: string, column: string) =>
    `(SELECT r.pk FROM ferry_remap r WHERE r.tbl = ${quoteLiteral(tbl)} AND r.src = +${column})`;
  for (const table of tables) {
    const t = quoteIdent(table.name);
    const pk = quoteIdent(table.primaryKey);
    // A copy of the server's row under the new key (a snapshot or pull brought it before the
    // answer was read) makes way for the local row, which holds the app's edits as well.
    await tx.run(
      `DELETE FROM ${t} WHERE ${pk} IN (SELECT r.pk FROM ferry_remap r WHERE r.tbl = ? AND r.src IS NOT r.pk
         AND EXISTS (SELECT 1 FROM ${t} x WHERE x.${pk} = r.src))`,
      [table.name],
    );
    await tx.run(
      `UPDATE ${t} SET ${pk} = ${target(table.name, `${t}.${pk}`)} WHERE ${pk} IN (${moving(table.name)})`,
    );
    for (const reference of table.referencedBy) {
      const child = quoteIdent(reference.childTable);
      const column = quoteIdent(reference.column);
      await tx.run(
        `UPDATE ${child} SET ${column} = ${target(table.name, `${child}.${column}`)} WHERE ${column} IN (${moving(table.name)})`,
      );
    }
  }
  for (const metadata of KEYED_METADATA) {
    await tx.run(
      `UPDATE OR REPLACE ${metadata} SET pk = (SELECT r.pk FROM ferry_remap r WHERE r.tbl = ${metadata}.tbl AND r.src = ${metadata}.pk)
       WHERE EXISTS (SELECT 1 FROM ferry_remap r WHERE r.tbl = ${metadata}.tbl AND r.src = ${metadata}.pk AND r.src IS NOT r.pk)`,
    );
  }
  await remapJsonRows(tx, schema, tables, staged);
  await tx.run(
    `INSERT INTO ferry_key_map (tbl, temp, pk, source_id, source_bundle_id, at)
     SELECT tbl, temp, pk, ?, ?, ? FROM ferry_remap WHERE true
     ON CONFLICT (tbl, temp) DO UPDATE SET pk = excluded.pk, source_id = excluded.source_id,
       source_bundle_id = excluded.source_bundle_id, at = excluded.at`,
    [origin.sourceId, origin.sourceBundleId, now],
  );
  await tx.run('DELETE FROM ferry_remap');
  if (!wasApplying) await tx.run('UPDATE ferry_capture SET applying = 0 WHERE id = 1');
  return staged.map((row) => ({ table: row.tbl, temp: row.temp, pk: row.pk }));
}

/** Keys staged in one statement (three parameters each, under SQLite's parameter limit). */
const STAGE_ROWS = 300;

/**
 * The rows Ferry keeps as JSON (the bundle in flight, dead letters, the local side of manual
 * conflicts): the row's own key and its references to the moved keys, rewritten in memory and
 * written back only where something changed.
 */
async function remapJsonRows(
  tx: Executor,
  schema: Schema,
  tables: readonly Table[],
  staged: readonly { tbl: string; src: PrimaryKey; pk: PrimaryKey }[],
): Promise<void> {
  const moved = new Map<string, Map<string, PrimaryKey>>();
  for (const row of staged) {
    if (row.src === row.pk) continue;
    let byKey = moved.get(row.tbl);
    if (!byKey) moved.set(row.tbl, (byKey = new Map<string, PrimaryKey>()));
    byKey.set(String(row.src), row.pk);
  }
  if (moved.size === 0) return;
  const affected = new Set<string>();
  for (const table of tables) {
    affected.add(table.name);
    for (const reference of table.referencedBy) affected.add(reference.childTable);
  }
  const names = [...affected];
  const newKey = (tbl: string, value: unknown) =>
    typeof value === 'number' || typeof value === 'string'
      ? moved.get(tbl)?.get(String(value))
      : undefined;
  for (const [metadata, id, column] of ROW_METADATA) {
    const rows = await tx.all<{ id: number; tbl: string; json: string | null }>(
      `SELECT ${id} AS id, tbl, ${column} AS json FROM ${metadata}
       WHERE tbl IN (${names.map(() => '?').join(', ')}) AND ${column} IS NOT NULL`,
      names,
    );
    const rewritten: SqlValue[] = [];
    for (const entry of rows) {
      const table = schema.table(entry.tbl);
      if (!table || entry.json === null) continue;
      const row = JSON.parse(entry.json) as Row;
      let changed = false;
      const own = newKey(table.name, row[table.primaryKey]);
      if (own !== undefined) {
        row[table.primaryKey] = own;
        changed = true;
      }
      for (const reference of table.references) {
        const to = newKey(reference.parentTable, row[reference.column]);
        if (to === undefined) continue;
        row[reference.column] = to;
        changed = true;
      }
      if (changed) rewritten.push(entry.id, JSON.stringify(row));
    }
    // Written back a run of rows per statement.
    for (let start = 0; start < rewritten.length; start += 2 * STAGE_ROWS) {
      const chunk = rewritten.slice(start, start + 2 * STAGE_ROWS);
      await tx.run(
        `UPDATE ${metadata} SET ${column} = v.column2
         FROM (VALUES ${Array.from({ length: chunk.length / 2 }, () => '(?, ?)').join(', ')}) AS v
         WHERE ${metadata}.${id} = v.column1`,
        chunk,
      );
    }
  }
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

/** Metadata that keeps rows as JSON: the table, its id column and the column holding a row. */
const ROW_METADATA: readonly (readonly [string, string, string])[] = [
  ['ferry_inflight', 'ord', 'row'],
  ['ferry_dead_letters', 'id', 'row'],
  ['ferry_conflicts', 'id', 'local'],
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

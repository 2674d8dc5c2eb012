/**
 * The server hooks' two places in a push ({@link runPush}): judging the decided changes before
 * anything is written, and `beforeCommit` after the writes, both on the push's transaction.
 * Store-neutral: everything goes through {@link PushTx}.
 *
 * @module
 */
import {
  FerryError,
  checkColumnValue,
  type PrimaryKey,
  type Schema,
  type Table,
  type WireRow,
} from '@ferry/protocol';
import type { PushInput } from '../store/server-store.js';
import { hookChangeOf, hookFailure, judgeChanges, type RefusedChange } from './judge-changes.js';
import type { PushTx } from './run-push.js';
import type { HookReader } from './server-hooks.js';
import { rowKey, type NormalizedChange } from './validate-changes.js';

/**
 * Runs the `validate` and `authorize` hooks of the tables the changes touch, with the server's
 * current rows, and returns every refusal (none: the push goes on).
 */
export async function refusedByHooks(
  tx: PushTx,
  schema: Schema,
  input: PushInput,
  changes: readonly NormalizedChange[],
): Promise<RefusedChange[]> {
  const hooks = input.hooks!;
  const hooked = changes.filter((change) => hooks.tables?.[change.table.name] !== undefined);
  if (hooked.length === 0) return [];
  const current = await currentRows(tx, hooked);
  return judgeChanges({
    hooks,
    userId: input.userId,
    claims: input.claims ?? {},
    reader: hookReader(tx, schema, input.userId),
    changes: hooked.map((change) => {
      const serverRow = current.get(change.key) ?? null;
      return { change, seen: hookChangeOf(change, serverRow), serverRow };
    }),
  });
}

/**
 * Runs `beforeCommit` on the push's transaction once its changes are written, with the rows as
 * stored. What it writes is captured like a cascade and sealed with the push.
 */
export async function beforeCommit(
  tx: PushTx,
  input: PushInput,
  changes: readonly NormalizedChange[],
): Promise<void> {
  const hooks = input.hooks!;
  const stored = await currentRows(
    tx,
    changes.filter((change) => change.op === 'upsert'),
  );
  const write = tx.backendWrite(input.userId, input.now);
  try {
    await hooks.beforeCommit!(write, {
      userId: input.userId,
      claims: input.claims ?? {},
      sourceId: input.sourceId,
      sourceBundleId: input.sourceBundleId,
      changes: changes.map((change) => ({
        ...hookChangeOf(change, null),
        row: change.op === 'upsert' ? (stored.get(change.key) ?? null) : null,
      })),
    });
  } catch (cause) {
    throw hookFailure('beforeCommit hook', cause);
  } finally {
    write.finish();
  }
}

/** The read-only access of `ctx`: the caller's rows by key, and read-only SQL. */
export function hookReader(tx: PushTx, schema: Schema, userId: string): HookReader {
  return {
    get: async (tableName: string, pk: PrimaryKey) => {
      const table = schema.table(tableName);
      if (!table) throw new FerryError('invalid_argument', `unknown table "${tableName}"`);
      // A key of another type names no row (and must not reach the database's typed column).
      if (!checkColumnValue(table.column(table.primaryKey)!, pk).ok) return null;
      const row = (await tx.readRows(table, [pk])).get(rowKey(table.name, pk));
      return row !== undefined && row[table.owner] === userId ? row : null;
    },
    query: (sql: string, params: readonly unknown[] = []) => tx.queryReadOnly(sql, params),
  };
}

/** The current rows of the changes' rows, keyed by `rowKey`, read table by table. */
async function currentRows(
  tx: PushTx,
  changes: readonly NormalizedChange[],
): Promise<Map<string, WireRow>> {
  const byTable = new Map<string, { table: Table; pks: PrimaryKey[] }>();
  for (const change of changes) {
    const entry = byTable.get(change.table.name) ?? { table: change.table, pks: [] };
    entry.pks.push(change.pk);
    byTable.set(change.table.name, entry);
  }
  const rows = new Map<string, WireRow>();
  for (const { table, pks } of byTable.values()) {
    for (const [key, row] of await tx.readRows(table, pks)) rows.set(key, row);
  }
  return rows;
}

import {
  checkColumnValue,
  type Change,
  type PrimaryKey,
  type Schema,
  type Table,
  type ValidationError,
  type WireRow,
} from '@ferry/protocol';

/**
 * A change that passed the schema checks, with its row completed.
 *
 * Invariants:
 * 1. `table` exists in the schema and `pk` is a valid value of its primary key column.
 * 2. For an upsert, `row` holds every client column (all but server-derived ones) in canonical
 *    wire form: missing columns took their default or null, the owner column is the caller's
 *    user id, the primary key column equals `pk`.
 * 3. `key` identifies `(table, pk)`; no two changes of one bundle share it.
 * 4. For an upsert, `writes` names the columns written to a row the server already has: the
 *    change's `columns` (else the columns its row carries), without the primary key and
 *    server-derived columns, always with the owner column. A row the server does not have is
 *    inserted from `row` whole.
 */
export interface NormalizedChange {
  readonly index: number;
  readonly table: Table;
  readonly pk: PrimaryKey;
  readonly key: string;
  readonly op: 'upsert' | 'delete';
  readonly baseVersion: number | null;
  readonly row: WireRow | undefined;
  /** Upserts: the columns written to an existing row (invariant 4), in table order. */
  readonly writes: readonly string[] | undefined;
  /** Upserts: the device's base is a tombstone (it re-creates a row it saw deleted). */
  readonly baseDeleted?: boolean | undefined;
  /** Upserts: an insert its install may have pushed before, under a source id it left. */
  readonly maybePushed?: boolean | undefined;
  /**
   * Upserts: made on a base row whose version the device no longer trusts (`columns` with
   * `baseVersion: null`: its server lost the history the version belonged to).
   */
  readonly baseUnversioned?: boolean | undefined;
  /**
   * Upserts: what the device added to each counter column it changed (`deltas` on the wire,
   * checked: counters of the table, integers for integer columns). Written as the current
   * value plus the delta to a live row; a row inserted instead takes `row`'s values.
   */
  readonly deltas?: Readonly<Record<string, number>> | undefined;
}

/** Outcome of {@link validateChanges}. */
export type ChangeValidation =
  | { readonly ok: true; readonly changes: readonly NormalizedChange[] }
  | { readonly ok: false; readonly errors: readonly ValidationError[] };

/**
 * Whether an upsert inserts a new row under a temporary key: a table whose keys the server
 * assigns (`keys: 'server'`), no base version and no `columns` (an upsert with `columns` but no
 * base version is an edit of a row whose version its device lost: its key is real).
 */
export function isTemporaryInsert(
  table: Table,
  baseVersion: number | null,
  columns: readonly string[] | undefined,
): boolean {
  return table.serverKeys && baseVersion === null && columns === undefined;
}

/** Why `change`'s key breaks the rule of temporary keys for its origin, or null. */
function temporaryKeyProblem(
  table: Table,
  change: Change,
  origin: 'push' | 'backend',
): string | null {
  if (change.op !== 'upsert' || !table.serverKeys || typeof change.pk !== 'number') return null;
  if (origin === 'backend') {
    return change.pk < 0
      ? `${table.name}'s keys are assigned by the server: backend code writes under real keys (tx.insert leaves the key out and takes one), never a negative, temporary one`
      : null;
  }
  return isTemporaryInsert(table, change.baseVersion, change.columns) && change.pk >= 0
    ? `${table.name}'s keys are assigned by the server: a new row is inserted with a temporary key, a negative integer`
    : null;
}

/**
 * Checks a whole row backend code writes (`BackendWriteTx.upsert`/`insert`) like a pushed upsert,
 * under the rules of backend writes; `pk` is the key the row names.
 */
export function validateBackendRow(
  schema: Schema,
  userId: string,
  table: string,
  row: WireRow,
): { readonly pk: PrimaryKey; readonly validation: ChangeValidation } {
  const t = schema.table(table);
  const pk = t ? (row[t.primaryKey] as PrimaryKey) : (undefined as unknown as PrimaryKey);
  const change: Change = { table, pk, op: 'upsert', baseVersion: null, row };
  return { pk, validation: validateChanges(schema, userId, [change], 'backend') };
}

/** The identity of a row across tables: `table` + NUL + `pk`. */
export function rowKey(table: string, pk: PrimaryKey): string {
  return `${table}\u0000${typeof pk}:${String(pk)}`;
}

/**
 * Checks a bundle's changes against the schema, without looking at any stored state: unknown
 * tables and columns, value types, not-null, lengths, the owner column and duplicate rows.
 * Every problem of every change is reported, each with its change's index.
 *
 * Server-derived columns in an upsert's row are ignored (the server writes them). An upsert
 * of a row the server has writes only the columns the change names (its `columns`, else those
 * its row carries): a column a device does not know or did not change keeps its value. A new
 * row's missing columns take their default, or null.
 */
export function validateChanges(
  schema: Schema,
  userId: string,
  changes: readonly Change[],
  origin: 'push' | 'backend' = 'push',
): ChangeValidation {
  const errors: ValidationError[] = [];
  const normalized: NormalizedChange[] = [];
  const seen = new Set<string>();

  changes.forEach((change, index) => {
    const table = schema.table(change.table);
    if (!table) {
      errors.push({
        index,
        table: change.table,
        pk: change.pk,
        code: 'unknown_table',
        message: `unknown table "${change.table}"`,
      });
      return;
    }
    const before = errors.length;
    const pkColumn = table.column(table.primaryKey)!;
    const pkCheck = checkColumnValue(pkColumn, change.pk);
    if (!pkCheck.ok) {
      errors.push({
        index,
        table: table.name,
        pk: change.pk,
        code: 'type_mismatch',
        column: table.primaryKey,
        message: `pk ${pkCheck.message}`,
      });
      return;
    }
    const key = rowKey(table.name, change.pk);
    if (seen.has(key)) {
      errors.push({
        index,
        table: table.name,
        pk: change.pk,
        code: 'duplicate_change',
        message: `${table.name} ${String(change.pk)} appears more than once in the bundle`,
      });
      return;
    }
    seen.add(key);

    // An append-only table's rows are inserted and deleted by devices, never updated: an upsert
    // on a version (but a re-creation over a tombstone) is an update.
    if (
      change.op === 'upsert' &&
      table.appendOnly &&
      change.baseVersion !== null &&
      change.baseDeleted !== true
    ) {
      errors.push({
        index,
        table: table.name,
        pk: change.pk,
        code: 'append_only',
        message: `${table.name} is append-only: a device inserts its rows and may delete them, never updates them`,
      });
      return;
    }

    // On a table whose keys the server assigns, a device inserts under a temporary key; an
    // integer one is negative, so it can never be taken for a key the server gave. Backend code
    // writes under real keys (its inserts take one from the server): never a negative one, which
    // a device would take for a temporary key of its own.
    const temporaryKeyError = temporaryKeyProblem(table, change, origin);
    if (temporaryKeyError !== null) {
      errors.push({
        index,
        table: table.name,
        pk: change.pk,
        code: 'temporary_key',
        message: temporaryKeyError,
      });
      return;
    }

    if (change.op === 'delete') {
      normalized.push({
        index,
        table,
        pk: change.pk,
        key,
        op: 'delete',
        baseVersion: change.baseVersion,
        row: undefined,
        writes: undefined,
      });
      return;
    }

    const row: WireRow = {};
    for (const name of Object.keys(change.row)) {
      if (!table.column(name)) {
        errors.push({
          index,
          table: table.name,
          pk: change.pk,
          code: 'unknown_column',
          column: name,
          message: `${table.name} has no column "${name}"`,
        });
      }
    }
    for (const column of table.clientColumns) {
      const present = Object.hasOwn(change.row, column.name);
      let value: unknown = present ? change.row[column.name] : undefined;
      if (column.isPrimaryKey) {
        if (present && value !== change.pk) {
          errors.push({
            index,
            table: table.name,
            pk: change.pk,
            code: 'type_mismatch',
            column: column.name,
            message: `${column.name} must equal the change's pk`,
          });
          continue;
        }
        value = change.pk;
      } else if (column.isOwner) {
        if (present && value !== userId) {
          errors.push({
            index,
            table: table.name,
            pk: change.pk,
            code: 'owner_mismatch',
            column: column.name,
            message: `${column.name} must be the caller's user id or left out`,
          });
          continue;
        }
        value = userId;
      } else if (!present) {
        value = column.default ?? null;
      }
      const check = checkColumnValue(column, value);
      if (!check.ok) {
        errors.push({
          index,
          table: table.name,
          pk: change.pk,
          code: check.code,
          column: column.name,
          message: `${column.name} ${check.message}`,
        });
        continue;
      }
      row[column.name] = check.value;
    }
    for (const [name, delta] of Object.entries(change.deltas ?? {})) {
      const column = table.column(name);
      const problem =
        column === undefined || column.merge !== 'counter'
          ? `${name} is not a counter column, so it takes no delta`
          : column.type === 'integer' && !Number.isSafeInteger(delta)
            ? `${name} is an integer counter; its delta must be an integer`
            : undefined;
      if (problem !== undefined) {
        errors.push({
          index,
          table: table.name,
          pk: change.pk,
          code: column === undefined ? 'unknown_column' : 'type_mismatch',
          column: name,
          message: problem,
        });
      }
    }
    if (errors.length === before) {
      const named = new Set(change.columns ?? Object.keys(change.row));
      normalized.push({
        index,
        table,
        pk: change.pk,
        key,
        op: 'upsert',
        baseVersion: change.baseVersion,
        row,
        writes: table.clientColumns
          .filter((c) => !c.isPrimaryKey && (c.isOwner || named.has(c.name)))
          .map((c) => c.name),
        baseDeleted: change.baseDeleted === true,
        maybePushed: change.maybePushed === true,
        baseUnversioned: change.baseVersion === null && change.columns !== undefined,
        ...(change.deltas === undefined ? {} : { deltas: change.deltas }),
      });
    }
  });

  return errors.length > 0 ? { ok: false, errors } : { ok: true, changes: normalized };
}

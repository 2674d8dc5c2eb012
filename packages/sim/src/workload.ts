import {
  toSqliteValue,
  type Column,
  type PrimaryKey,
  type Row,
  type Schema,
  type Table,
} from '@ferry/protocol';
import type { LocalState } from './local-inspector.js';
import type { SeededRandom } from './seeded-random.js';
import { rowKey, type BackendOp, type ServerModel } from './server-model.js';

/** One change of a simulated local write. */
export type WriteChange =
  | {
      readonly kind: 'insert';
      readonly table: string;
      readonly pk: PrimaryKey;
      readonly values: Row;
    }
  | {
      readonly kind: 'update';
      readonly table: string;
      readonly pk: PrimaryKey;
      readonly values: Row;
      /** An increment: what it adds to each counter (`values` then holds the view's sum). */
      readonly added?: Readonly<Record<string, number>>;
    }
  | {
      readonly kind: 'delete';
      readonly table: string;
      readonly pk: PrimaryKey;
      /** What the local database's references do with it (cascaded deletes, set-null updates). */
      readonly implied: readonly WriteChange[];
    };

/** A local write the workload chose: `client.write` of the changes, or one SQL statement. */
export interface WriteOp {
  readonly label: string;
  readonly changes: readonly WriteChange[];
  /** When set, the write goes through `client.execute(sql, params)` instead of `tx.*`. */
  readonly sql?: { readonly text: string; readonly params: readonly (string | number | null)[] };
}

/** Relative weights of the kinds of local writes. */
export interface WriteMix {
  readonly insert: number;
  readonly update: number;
  readonly delete: number;
  readonly deleteParent: number;
  readonly reinsert: number;
  readonly multi: number;
  readonly rawSql: number;
  readonly invalid: number;
  readonly foreignPk: number;
}

/** The default mix: mostly inserts and updates of hot rows, some deletes, rare oddities. */
export const DEFAULT_WRITE_MIX: WriteMix = {
  insert: 28,
  update: 36,
  delete: 8,
  deleteParent: 3,
  reinsert: 2,
  multi: 12,
  rawSql: 6,
  invalid: 1,
  foreignPk: 1,
};

/**
 * Generates random but valid work for any schema: rows with values of each column's type
 * (text carries the user's tag so that isolation can be checked), references to rows that
 * exist where the write happens, updates that really change a value, deletes that cascade.
 */
export class Workload {
  readonly #schema: Schema;
  readonly #mix: WriteMix;

  constructor(schema: Schema, mix: WriteMix = DEFAULT_WRITE_MIX) {
    this.#schema = schema;
    this.#mix = mix;
    this.#counters = schema.tables.flatMap((table) =>
      table.columns.filter((c) => c.merge === 'counter').map((column) => ({ table, column })),
    );
  }

  /** The counter columns of the schema (the increments' targets). */
  readonly #counters: readonly { readonly table: Table; readonly column: Column }[];

  /**
   * A write for a device that sees `local` (its committed file), or null when nothing fits.
   * `tag` prefixes every text value the user's devices write.
   */
  nextWrite(
    random: SeededRandom,
    local: LocalState,
    tag: string,
    userId: string,
    model: ServerModel,
  ): WriteOp | null {
    const view = new LocalView(local);
    // Increments only where the schema has counters, so other schemas draw as before.
    const kind = random.weighted(
      this.#counters.length > 0 ? { ...this.#mix, increment: INCREMENT_WEIGHT } : { ...this.#mix },
    );
    switch (kind) {
      case 'increment':
        return this.#increment(random, view);
      case 'multi': {
        const changes: WriteChange[] = [];
        const n = random.int(2, 4);
        for (let i = 0; i < n; i++) {
          const pick = random.weighted({ insert: 4, update: 4, delete: 1 });
          const change =
            pick === 'insert'
              ? this.#insert(random, view, tag)
              : pick === 'update'
                ? this.#update(random, view, tag)
                : this.#delete(random, view, false);
          if (change) {
            changes.push(change);
            view.apply(change);
          }
        }
        return changes.length > 0 ? { label: `write ×${changes.length}`, changes } : null;
      }
      case 'insert':
        return one('insert', this.#insert(random, view, tag));
      case 'update':
        return one('update', this.#update(random, view, tag));
      case 'delete':
        return one('delete', this.#delete(random, view, false));
      case 'deleteParent':
        return one('delete parent', this.#delete(random, view, true));
      case 'reinsert':
        return one('re-insert', this.#reinsert(random, view, tag, userId, model));
      case 'foreignPk':
        return one(
          'insert with a pk of another user',
          this.#foreignPk(random, view, tag, userId, model),
        );
      case 'rawSql':
        return this.#rawSql(random, view, tag, false);
      case 'invalid':
        return this.#rawSql(random, view, tag, true);
    }
  }

  /**
   * A backend write for `userId` on the server's current state: update, insert or delete of
   * the user's rows (deletes cascade on the server).
   */
  nextBackendWrite(
    random: SeededRandom,
    model: ServerModel,
    userId: string,
    tag: string,
  ): { label: string; ops: BackendOp[] } | null {
    const alive = [...model.aliveRows(userId).values()];
    const kind = random.weighted({ update: 5, insert: 3, delete: 2 });
    if (kind === 'insert' || alive.length === 0) {
      const table = random.pick(this.#schema.tables);
      const row: Row = {};
      for (const column of table.clientColumns) {
        if (column.isOwner) continue;
        if (column.isPrimaryKey) row[column.name] = newPk(random, column, tag);
        else if (column.reference) {
          const parents = alive.filter((r) => r.table === column.reference!.parentTable);
          if (parents.length === 0) {
            if (column.notNull) return null;
            row[column.name] = null;
          } else row[column.name] = random.pick(parents).pk;
        } else row[column.name] = valueFor(random, column, tag);
      }
      return {
        label: `backend insert ${table.name}`,
        ops: [{ op: 'upsert', table: table.name, row }],
      };
    }
    const target = random.pick(alive);
    const table = this.#schema.requireTable(target.table);
    if (kind === 'delete') {
      return {
        label: `backend delete ${table.name} ${short(target.pk)}`,
        ops: [{ op: 'delete', table: table.name, pk: target.pk }],
      };
    }
    const row: Row = {};
    for (const column of table.clientColumns) {
      if (!column.isOwner) row[column.name] = target.row![column.name] ?? null;
    }
    const editable = editableColumns(table).filter((c) => !c.reference);
    if (editable.length === 0) return null;
    const column = random.pick(editable);
    row[column.name] = changedValue(random, column, row[column.name], tag);
    return {
      label: `backend update ${table.name} ${short(target.pk)}.${column.name}`,
      ops: [{ op: 'upsert', table: table.name, row }],
    };
  }

  #insert(random: SeededRandom, view: LocalView, tag: string): WriteChange | null {
    const tables = random.shuffle(this.#schema.tables);
    // Parents first when there is little data, so that children find something to point at.
    const ordered = view.size() < 4 ? this.#schema.tables : tables;
    for (const table of ordered) {
      const values: Row = {};
      let ok = true;
      for (const column of table.clientColumns) {
        if (column.isOwner) continue;
        if (column.isPrimaryKey) values[column.name] = newPk(random, column, tag);
        else if (column.reference) {
          const parents = view.rowsOf(column.reference.parentTable);
          if (parents.length === 0) {
            if (column.notNull) {
              ok = false;
              break;
            }
            values[column.name] = null;
          } else values[column.name] = pickHot(random, parents).pk;
        } else values[column.name] = valueFor(random, column, tag);
      }
      if (!ok) continue;
      return {
        kind: 'insert',
        table: table.name,
        pk: values[table.primaryKey] as PrimaryKey,
        values,
      };
    }
    return null;
  }

  #update(random: SeededRandom, view: LocalView, tag: string): WriteChange | null {
    const candidates = view.all();
    if (candidates.length === 0) return null;
    const target = pickHot(random, candidates);
    const table = this.#schema.requireTable(target.table);
    const editable = editableColumns(table);
    if (editable.length === 0) return null;
    const values: Row = {};
    for (const column of random
      .shuffle(editable)
      .slice(0, random.int(1, Math.min(3, editable.length)))) {
      if (column.reference) {
        const parents = view
          .rowsOf(column.reference.parentTable)
          .filter((p) => p.pk !== target.row[column.name]);
        if (parents.length === 0) continue;
        values[column.name] = random.pick(parents).pk;
      } else {
        values[column.name] = changedValue(random, column, target.row[column.name], tag);
      }
    }
    if (Object.keys(values).length === 0) return null;
    return { kind: 'update', table: table.name, pk: target.pk, values };
  }

  #delete(random: SeededRandom, view: LocalView, parent: boolean): WriteChange | null {
    const candidates = view.all().filter((r) => {
      const referenced = this.#schema.requireTable(r.table).referencedBy.length > 0;
      return parent ? referenced : !referenced || random.chance(0.2);
    });
    if (candidates.length === 0) return null;
    const target = random.pick(candidates);
    const implied = this.#implied(view, target.table, target.pk);
    if (implied === null) return null;
    return { kind: 'delete', table: target.table, pk: target.pk, implied };
  }

  /** What the local references do when `table` `pk` is deleted; null when one restricts it. */
  #implied(view: LocalView, table: string, pk: PrimaryKey): WriteChange[] | null {
    const out: WriteChange[] = [];
    const visit = (tableName: string, key: PrimaryKey): boolean => {
      for (const reference of this.#schema.requireTable(tableName).referencedBy) {
        for (const child of view.rowsOf(reference.childTable)) {
          if (child.row[reference.column] !== key) continue;
          if (reference.onDelete === 'restrict') return false;
          if (reference.onDelete === 'cascade') {
            if (
              out.some((c) => c.kind === 'delete' && c.table === child.table && c.pk === child.pk)
            )
              continue;
            out.push({ kind: 'delete', table: child.table, pk: child.pk, implied: [] });
            if (!visit(child.table, child.pk)) return false;
          } else {
            out.push({
              kind: 'update',
              table: child.table,
              pk: child.pk,
              values: { [reference.column]: null },
            });
          }
        }
      }
      return true;
    };
    return visit(table, pk) ? out : null;
  }

  #reinsert(
    random: SeededRandom,
    view: LocalView,
    tag: string,
    userId: string,
    model: ServerModel,
  ): WriteChange | null {
    const gone = [...model.allRows()].filter(
      (r) => r.owner === userId && r.deleted && !view.has(r.table, r.pk),
    );
    if (gone.length === 0) return null;
    const target = random.pick(gone);
    const insert = this.#insertInto(random, view, tag, this.#schema.requireTable(target.table));
    if (!insert) return null;
    const table = this.#schema.requireTable(target.table);
    return {
      ...insert,
      pk: target.pk,
      values: { ...insert.values, [table.primaryKey]: target.pk },
    };
  }

  #foreignPk(
    random: SeededRandom,
    view: LocalView,
    tag: string,
    userId: string,
    model: ServerModel,
  ): WriteChange | null {
    const theirs = [...model.allRows()].filter(
      (r) => r.owner !== userId && !view.has(r.table, r.pk),
    );
    if (theirs.length === 0) return null;
    const target = random.pick(theirs);
    const table = this.#schema.requireTable(target.table);
    const insert = this.#insertInto(random, view, tag, table);
    if (!insert) return null;
    return {
      ...insert,
      pk: target.pk,
      values: { ...insert.values, [table.primaryKey]: target.pk },
    };
  }

  #insertInto(random: SeededRandom, view: LocalView, tag: string, table: Table) {
    const values: Row = {};
    for (const column of table.clientColumns) {
      if (column.isOwner) continue;
      if (column.isPrimaryKey) values[column.name] = newPk(random, column, tag);
      else if (column.reference) {
        const parents = view.rowsOf(column.reference.parentTable);
        if (parents.length === 0) {
          if (column.notNull) return null;
          values[column.name] = null;
        } else values[column.name] = random.pick(parents).pk;
      } else values[column.name] = valueFor(random, column, tag);
    }
    return {
      kind: 'insert' as const,
      table: table.name,
      pk: values[table.primaryKey] as PrimaryKey,
      values,
    };
  }

  /** An UPDATE in plain SQL (captured by the triggers too); `invalid` writes a too-long text. */
  /**
   * An increment (or decrement) of a counter in SQL, `SET c = c + k`, as apps write them: the
   * value it leaves is the file's then, which a pull may have moved since the view was read, so
   * the recorded value is the view's plus `k` and checks of counters go by deltas, not values.
   */
  #increment(random: SeededRandom, view: LocalView): WriteOp | null {
    const { table, column } = random.pick(this.#counters);
    const rows = view.rowsOf(table.name);
    if (rows.length === 0) return null;
    const target = pickHot(random, rows);
    const k = random.chance(0.8) ? random.int(1, 9) : -random.int(1, 5);
    const value =
      (typeof target.row[column.name] === 'number' ? (target.row[column.name] as number) : 0) + k;
    const pkColumn = table.column(table.primaryKey)!;
    return {
      label: `add ${k} to ${table.name}.${column.name}`,
      changes: [
        {
          kind: 'update',
          table: table.name,
          pk: target.pk,
          values: { [column.name]: value },
          added: { [column.name]: k },
        },
      ],
      sql: {
        text: `UPDATE "${table.name}" SET "${column.name}" = "${column.name}" + ? WHERE "${table.primaryKey}" = ?`,
        params: [k, toSqliteValue(pkColumn.type, target.pk) as string | number],
      },
    };
  }

  #rawSql(random: SeededRandom, view: LocalView, tag: string, invalid: boolean): WriteOp | null {
    const candidates = view
      .all()
      .filter((r) =>
        editableColumns(this.#schema.requireTable(r.table)).some(
          (c) => !c.reference && (!invalid || (c.type === 'text' && c.maxLength !== undefined)),
        ),
      );
    if (candidates.length === 0) return null;
    const target = pickHot(random, candidates);
    const table = this.#schema.requireTable(target.table);
    const columns = editableColumns(table).filter(
      (c) => !c.reference && (!invalid || (c.type === 'text' && c.maxLength !== undefined)),
    );
    const column = random.pick(columns);
    const value = invalid
      ? `${tag}~${'x'.repeat(column.maxLength!)}`
      : changedValue(random, column, target.row[column.name], tag);
    const pkColumn = table.column(table.primaryKey)!;
    return {
      label: invalid ? 'sql update with a too-long value' : 'sql update',
      changes: [
        { kind: 'update', table: table.name, pk: target.pk, values: { [column.name]: value } },
      ],
      sql: {
        text: `UPDATE "${table.name}" SET "${column.name}" = ? WHERE "${table.primaryKey}" = ?`,
        params: [
          toSqliteValue(column.type, value) as string | number | null,
          toSqliteValue(pkColumn.type, target.pk) as string | number,
        ],
      },
    };
  }
}

const INCREMENT_WEIGHT = 14;

/** The local rows a workload decision sees, with the changes of the write being built on top. */
class LocalView {
  readonly #rows = new Map<string, { table: string; pk: PrimaryKey; row: Row }>();

  constructor(local: LocalState) {
    for (const [key, value] of local.rows) this.#rows.set(key, { ...value, row: { ...value.row } });
  }

  size(): number {
    return this.#rows.size;
  }

  has(table: string, pk: PrimaryKey): boolean {
    return this.#rows.has(rowKey(table, pk));
  }

  all(): { table: string; pk: PrimaryKey; row: Row }[] {
    return [...this.#rows.values()].sort(byKey);
  }

  rowsOf(table: string): { table: string; pk: PrimaryKey; row: Row }[] {
    return this.all().filter((r) => r.table === table);
  }

  apply(change: WriteChange): void {
    const key = rowKey(change.table, change.pk);
    if (change.kind === 'insert') {
      this.#rows.set(key, { table: change.table, pk: change.pk, row: { ...change.values } });
    } else if (change.kind === 'update') {
      const row = this.#rows.get(key);
      if (row) Object.assign(row.row, change.values);
    } else {
      this.#rows.delete(key);
      for (const implied of change.implied) this.apply(implied);
    }
  }
}

function one(label: string, change: WriteChange | null): WriteOp | null {
  return change ? { label: `${label} ${change.table}`, changes: [change] } : null;
}

function byKey(a: { table: string; pk: PrimaryKey }, b: { table: string; pk: PrimaryKey }): number {
  return a.table === b.table
    ? String(a.pk).localeCompare(String(b.pk))
    : a.table.localeCompare(b.table);
}

/** Half the time one of the first few rows: devices of a user keep editing the same rows. */
function pickHot<T>(random: SeededRandom, items: readonly T[]): T {
  return random.chance(0.5)
    ? items[random.int(0, Math.min(3, items.length) - 1)]!
    : random.pick(items);
}

/** Columns an update may change: client columns but the primary key and the owner. */
function editableColumns(table: Table): Column[] {
  return table.clientColumns.filter((c) => !c.isPrimaryKey && !c.isOwner);
}

function newPk(random: SeededRandom, column: Column, tag: string): PrimaryKey {
  if (column.type === 'integer') return random.int(1, 2 ** 40);
  if (column.type === 'uuid') return random.uuid();
  return `${tag}~${random.word(12)}`;
}

/** A random value of the column's type (text starts with the user's tag). */
export function valueFor(random: SeededRandom, column: Column, tag: string): unknown {
  if (!column.notNull && random.chance(0.05)) return null;
  switch (column.type) {
    case 'text': {
      const max = column.maxLength ?? 40;
      return `${tag}~${random.word(random.int(4, 12))}`.slice(0, Math.max(1, max));
    }
    case 'uuid':
      return random.uuid();
    case 'integer':
      return random.int(-1000, 1_000_000);
    case 'real':
      return random.int(0, 1 << 20) / 64;
    case 'boolean':
      return random.chance(0.5);
    case 'timestamp':
      return new Date(Date.UTC(2026, 0, 1) + random.int(0, 365 * 86_400) * 1000).toISOString();
    case 'json':
      return { k: random.word(4), n: random.int(0, 100) };
  }
}

/** A value of the column's type that differs from `current`. */
function changedValue(
  random: SeededRandom,
  column: Column,
  current: unknown,
  tag: string,
): unknown {
  if (column.type === 'boolean') return current === null ? true : !current;
  for (;;) {
    const value = valueFor(random, { ...column, notNull: true }, tag);
    if (JSON.stringify(value) !== JSON.stringify(current)) return value;
  }
}

function short(pk: PrimaryKey): string {
  return String(pk).slice(0, 8);
}

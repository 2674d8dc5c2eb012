/**
 * The versions of an app's schema and the migrations between them, derived from the
 * declarations: each version is a whole {@link defineSchema} declaration, and what changed from
 * one version to the next (added, renamed, widened and dropped tables, columns and indexes) is
 * read off the two. Only what a diff cannot know is declared: renames (`renamedFrom`) and custom
 * SQL (`migration.sql`). Pure: both stores and the client derive their DDL from these steps.
 *
 * @module
 */
import type { ColumnType } from './column-types.js';
import { FerryError } from './errors.js';
import type { Column, Schema, Table } from './schema.js';

/**
 * One step of a migration between two consecutive versions. Table and column names are the new
 * version's, except where a step names the old (`from`, and the table of `drop-table`).
 */
export type MigrationStep =
  | { readonly kind: 'rename-table'; readonly from: string; readonly to: string }
  | {
      readonly kind: 'rename-column';
      readonly table: string;
      readonly from: string;
      readonly to: string;
    }
  | { readonly kind: 'drop-index'; readonly table: string; readonly index: string }
  | { readonly kind: 'add-table'; readonly table: string }
  | { readonly kind: 'add-column'; readonly table: string; readonly column: string }
  | {
      readonly kind: 'change-column';
      readonly table: string;
      readonly column: string;
      /** What changed, each a widening: the type, not-null relaxed, the length, the default. */
      readonly changes: readonly ColumnChange[];
      readonly fromType: ColumnType;
    }
  | {
      readonly kind: 'sql';
      readonly sqlite: string | undefined;
      readonly postgres: string | undefined;
    }
  | { readonly kind: 'drop-column'; readonly table: string; readonly column: string }
  | { readonly kind: 'drop-table'; readonly table: string }
  | { readonly kind: 'add-index'; readonly table: string; readonly index: string };

/** A widening of a column: see {@link MigrationStep} `change-column`. */
export type ColumnChange = 'type' | 'nullable' | 'length' | 'default';

/** The steps from the version before to `to.version`. */
export interface VersionMigration {
  readonly from: Schema;
  readonly to: Schema;
  readonly steps: readonly MigrationStep[];
}

/**
 * An app's schema versions, oldest first, with the migrations between them.
 *
 * Invariants:
 * 1. Versions strictly increase; each is a valid schema.
 * 2. Between two consecutive versions, every difference is a step Ferry can run on both stores
 *    and in every client file without losing a value that stays in the schema: tables and
 *    columns are added (a new column is nullable or has a default), renamed (declared), widened
 *    (`integer` to `real`, `uuid` to `text`, not-null to nullable, a longer or no `maxLength`, a
 *    new default) or dropped; indexes come and go. Anything else is refused at definition.
 * 3. The primary key and owner column of a table keep their role (they may be renamed).
 */
export interface SchemaHistory {
  /** Every version, oldest first. */
  readonly versions: readonly Schema[];
  /** The newest version. */
  readonly latest: Schema;
  /** The version numbered `version`, or undefined. */
  at(version: number): Schema | undefined;
  /** The version whose fingerprint is `fingerprint`, or undefined. */
  withFingerprint(fingerprint: string): Schema | undefined;
  /** The migrations from `from` up to `to` (default the latest), one per version, in order. */
  migrations(from: number, to?: number): readonly VersionMigration[];
}

/**
 * Makes the history of an app's schema versions; throws `invalid_schema` naming every change
 * between two versions that cannot be migrated.
 *
 * @example
 * const v1 = defineSchema({ version: 1, tables: { lists } });
 * const v2 = defineSchema({ version: 2, tables: { lists: withColor(lists), tags } });
 * export const history = schemaHistory(v1, v2);
 */
export function schemaHistory(...versions: Schema[]): SchemaHistory {
  if (versions.length === 0) {
    throw new FerryError('invalid_schema', 'a schema history needs at least one version');
  }
  const problems: string[] = [];
  const migrations: VersionMigration[] = [];
  for (let i = 1; i < versions.length; i++) {
    const from = versions[i - 1]!;
    const to = versions[i]!;
    if (to.version <= from.version) {
      problems.push(`version ${to.version} follows version ${from.version}: versions must grow`);
      continue;
    }
    const planned = planMigration(from, to);
    if (planned.ok) migrations.push({ from, to, steps: planned.steps });
    else problems.push(...planned.problems.map((p) => `version ${to.version}: ${p}`));
  }
  if (versions[0]!.migration?.sql !== undefined) {
    problems.push(`version ${versions[0]!.version} is the first: it has no migration to run`);
  }
  if (problems.length > 0) {
    throw new FerryError('invalid_schema', `invalid schema history: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const byVersion = new Map(versions.map((v) => [v.version, v]));
  const byFingerprint = new Map(versions.map((v) => [v.fingerprint, v]));
  return {
    versions,
    latest: versions.at(-1)!,
    at: (version) => byVersion.get(version),
    withFingerprint: (fingerprint) => byFingerprint.get(fingerprint),
    migrations(from, to = versions.at(-1)!.version) {
      return migrations.filter((m) => m.from.version >= from && m.to.version <= to);
    },
  };
}

/** A history of one version: what a server or client given a plain schema runs. */
export function isSchemaHistory(value: Schema | SchemaHistory): value is SchemaHistory {
  return 'versions' in value && Array.isArray(value.versions);
}

/** A schema or a history, as a history. */
export function asSchemaHistory(value: Schema | SchemaHistory): SchemaHistory {
  return isSchemaHistory(value) ? value : schemaHistory(value);
}

/** Outcome of {@link planMigration}. */
export type MigrationPlan =
  | { readonly ok: true; readonly steps: readonly MigrationStep[] }
  | { readonly ok: false; readonly problems: readonly string[] };

/**
 * The steps from `from` to `to`, in the order they run: renames; index drops; added tables and
 * columns; widened columns; the custom SQL; dropped columns and tables; added indexes.
 */
export function planMigration(from: Schema, to: Schema): MigrationPlan {
  const problems: string[] = [];
  const steps: MigrationStep[] = [];
  // The old table of each new one: the same name, or the one it was renamed from.
  const oldOf = new Map<string, Table>();
  const renames: MigrationStep[] = [];
  for (const table of to.tables) {
    const same = from.table(table.name);
    if (same) {
      oldOf.set(table.name, same);
      continue;
    }
    if (table.renamedFrom === undefined) continue;
    const old = from.table(table.renamedFrom);
    if (!old) {
      problems.push(
        `${table.name} is renamed from "${table.renamedFrom}", which version ${from.version} does not have`,
      );
    } else if (to.table(table.renamedFrom)) {
      problems.push(`${table.name} is renamed from "${table.renamedFrom}", which is still a table`);
    } else {
      oldOf.set(table.name, old);
      renames.push({ kind: 'rename-table', from: old.name, to: table.name });
    }
  }
  const kept = new Set([...oldOf.values()].map((t) => t.name));
  steps.push(...renames);

  const columnRenames: MigrationStep[] = [];
  const dropIndexes: MigrationStep[] = [];
  const addTables: MigrationStep[] = [];
  const addColumns: MigrationStep[] = [];
  const changeColumns: MigrationStep[] = [];
  const dropColumns: MigrationStep[] = [];
  const addIndexes: MigrationStep[] = [];
  for (const table of to.tables) {
    const old = oldOf.get(table.name);
    if (!old) {
      addTables.push({ kind: 'add-table', table: table.name });
      for (const index of table.indexes) {
        addIndexes.push({ kind: 'add-index', table: table.name, index: index.name });
      }
      continue;
    }
    // The old column of each new one.
    const oldColumn = new Map<string, Column>();
    for (const column of table.columns) {
      const same = old.column(column.name);
      if (same) {
        oldColumn.set(column.name, same);
        continue;
      }
      if (column.renamedFrom === undefined) continue;
      const was = old.column(column.renamedFrom);
      const where = `${table.name}.${column.name}`;
      if (!was) {
        problems.push(
          `${where} is renamed from "${column.renamedFrom}", which ${old.name} does not have`,
        );
      } else if (table.column(column.renamedFrom)) {
        problems.push(`${where} is renamed from "${column.renamedFrom}", which is still a column`);
      } else {
        oldColumn.set(column.name, was);
        columnRenames.push({
          kind: 'rename-column',
          table: table.name,
          from: was.name,
          to: column.name,
        });
      }
    }
    const keptColumns = new Set([...oldColumn.values()].map((c) => c.name));
    const pkWas = oldColumn.get(table.primaryKey);
    if (pkWas?.name !== old.primaryKey) {
      problems.push(`${table.name}: the primary key must stay the same column (it may be renamed)`);
    }
    if (table.serverKeys !== old.serverKeys) {
      problems.push(
        `${table.name}: who assigns its keys (keys "${old.serverKeys ? 'server' : 'client'}") cannot change: add a new table instead`,
      );
    }
    if (oldColumn.get(table.owner)?.name !== old.owner) {
      problems.push(
        `${table.name}: the owner column must stay the same column (it may be renamed)`,
      );
    }
    for (const column of table.columns) {
      const was = oldColumn.get(column.name);
      const where = `${table.name}.${column.name}`;
      if (!was) {
        if (column.notNull && column.default === undefined && column.serverDerived === undefined) {
          problems.push(
            `${where} is added as not-null without a default: existing rows would have no value`,
          );
        } else if (
          column.reference !== undefined &&
          (column.notNull || (column.default !== undefined && column.default !== null))
        ) {
          problems.push(
            `${where} is added as a reference that is not-null or has a default: existing rows would point at no row; add it nullable`,
          );
        } else {
          addColumns.push({ kind: 'add-column', table: table.name, column: column.name });
        }
        continue;
      }
      const changes = columnChanges(was, column, oldOf, where, problems);
      if (changes.length > 0) {
        changeColumns.push({
          kind: 'change-column',
          table: table.name,
          column: column.name,
          changes,
          fromType: was.type,
        });
      }
    }
    for (const column of old.columns) {
      if (!keptColumns.has(column.name)) {
        dropColumns.push({ kind: 'drop-column', table: table.name, column: column.name });
      }
    }
    // Indexes: kept when the name and (renamed) columns are the same.
    const newName = (name: string) =>
      [...oldColumn.entries()].find(([, c]) => c.name === name)?.[0] ?? null;
    for (const index of old.indexes) {
      const now = table.indexes.find((i) => i.sqlName === index.sqlName);
      const same =
        now !== undefined &&
        now.columns.length === index.columns.length &&
        now.columns.every((c, i) => newName(index.columns[i]!) === c);
      if (!same) dropIndexes.push({ kind: 'drop-index', table: table.name, index: index.sqlName });
    }
    for (const index of table.indexes) {
      const was = old.indexes.find((i) => i.sqlName === index.sqlName);
      const same =
        was !== undefined &&
        was.columns.length === index.columns.length &&
        index.columns.every((c, i) => newName(was.columns[i]!) === c);
      if (!same) addIndexes.push({ kind: 'add-index', table: table.name, index: index.name });
    }
  }
  steps.push(...columnRenames, ...dropIndexes, ...addTables, ...addColumns, ...changeColumns);
  const sql = to.migration?.sql;
  if (sql !== undefined) {
    steps.push(
      typeof sql === 'string'
        ? { kind: 'sql', sqlite: sql, postgres: sql }
        : { kind: 'sql', sqlite: sql.sqlite, postgres: sql.postgres },
    );
  }
  steps.push(...dropColumns);
  // Dropped tables, children first (the new schema no longer references them: defineSchema
  // refused it otherwise).
  for (const table of [...from.tables].reverse()) {
    if (!kept.has(table.name)) {
      // Dropped indexes of dropped tables go with them.
      steps.push({ kind: 'drop-table', table: table.name });
    }
  }
  steps.push(...addIndexes);
  return problems.length > 0 ? { ok: false, problems } : { ok: true, steps };
}

const WIDER_TYPES: Readonly<Record<string, readonly ColumnType[]>> = {
  integer: ['real'],
  uuid: ['text'],
};

function columnChanges(
  was: Column,
  column: Column,
  oldOf: ReadonlyMap<string, Table>,
  where: string,
  problems: string[],
): ColumnChange[] {
  const changes: ColumnChange[] = [];
  if (was.type !== column.type) {
    if (WIDER_TYPES[was.type]?.includes(column.type)) changes.push('type');
    else
      problems.push(
        `${where} changes type from ${was.type} to ${column.type}, which is not a widening (integer → real, uuid → text): add a new column and copy the values with migration.sql`,
      );
  }
  if (was.notNull && !column.notNull) changes.push('nullable');
  if (!was.notNull && column.notNull) {
    problems.push(`${where} becomes not-null: rows that hold null would break it`);
  }
  if (was.maxLength !== column.maxLength) {
    if (
      column.maxLength === undefined ||
      (was.maxLength !== undefined && column.maxLength > was.maxLength)
    ) {
      changes.push('length');
    } else {
      problems.push(`${where} gets a shorter maxLength: longer values would break it`);
    }
  }
  if (JSON.stringify(was.default ?? null) !== JSON.stringify(column.default ?? null)) {
    changes.push('default');
  }
  if (was.serverDerived !== column.serverDerived) {
    problems.push(`${where} changes how the server derives it`);
  }
  const oldParent = was.reference?.parentTable;
  const newParentWas =
    column.reference === undefined ? undefined : oldOf.get(column.reference.parentTable)?.name;
  if (
    oldParent !== newParentWas ||
    (was.reference !== undefined &&
      (column.reference === undefined || was.reference.onDelete !== column.reference.onDelete))
  ) {
    problems.push(`${where} changes its reference: add a new column instead`);
  }
  return changes;
}

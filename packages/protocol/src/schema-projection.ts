/**
 * Rows of one schema version seen in another: what the server does so that clients of every
 * version of a {@link SchemaHistory} read and write the same data. Pure.
 *
 * - Forward (an older row to a newer version: a bundle committed before a migration, pulled by
 *   a newer client; a push of an older client): renamed tables and columns take their new
 *   names, dropped columns go, rows of dropped tables go; an added column takes its default
 *   (what the migration gave existing rows) when `fill` is set, and is left out otherwise (a
 *   push must not write a column its device does not know).
 * - Backward (a newer row to an older version: what an older client pulls): the renames undone,
 *   added tables' rows and added columns left out, a dropped column given the older version's
 *   default (else null); a value the older version cannot hold (a widened type, a longer text,
 *   a null in a column that was not-null) also takes that default, else the type's zero value.
 *
 * @module
 */
import { checkColumnValue, type ColumnType, type JsonValue } from './column-types.js';
import type { Column, Row } from './schema.js';
import type { SchemaHistory, VersionMigration } from './schema-history.js';

/** How rows, tables and columns of version `from` read in version `to`. */
export interface VersionProjection {
  readonly from: number;
  readonly to: number;
  /** True when the versions are the same: everything passes unchanged. */
  readonly identity: boolean;
  /** The table's name in `to`, or null when `to` has no such table. */
  table(name: string): string | null;
  /** The column's name in `to` (`table` named as in `from`), or null when `to` lacks it. */
  column(table: string, column: string): string | null;
  /**
   * The row (of table `table`, named as in `from`) as `to` has it, or null when `to` has no
   * such table. `fill`: give columns `to` has and the row lacks their value (see the module).
   */
  row(table: string, row: Row, fill: boolean): { readonly table: string; readonly row: Row } | null;
}

/** The projection from version `from` to version `to` of `history`. */
export function projectionBetween(
  history: SchemaHistory,
  from: number,
  to: number,
): VersionProjection {
  if (from === to) return identityProjection(from);
  const forward = from < to;
  const migrations = forward
    ? history.migrations(from, to)
    : [...history.migrations(to, from)].reverse();
  const hops = migrations.map((m) => (forward ? forwardHop(m) : backwardHop(m)));
  return {
    from,
    to,
    identity: false,
    table(name) {
      let current: string | null = name;
      for (const hop of hops) {
        if (current === null) return null;
        current = hop.table(current);
      }
      return current;
    },
    column(table, column) {
      let t: string | null = table;
      let c: string | null = column;
      for (const hop of hops) {
        if (t === null || c === null) return null;
        c = hop.column(t, c);
        t = hop.table(t);
      }
      return t === null ? null : c;
    },
    row(table, row, fill) {
      let t: string | null = table;
      let r: Row = row;
      for (const hop of hops) {
        const next = hop.row(t, r, fill);
        if (next === null) return null;
        t = next.table;
        r = next.row;
      }
      return { table: t, row: r };
    },
  };
}

function identityProjection(version: number): VersionProjection {
  return {
    from: version,
    to: version,
    identity: true,
    table: (name) => name,
    column: (_table, column) => column,
    row: (table, row) => ({ table, row }),
  };
}

/** One version step of a projection. */
interface Hop {
  table(name: string): string | null;
  column(table: string, column: string): string | null;
  row(table: string, row: Row, fill: boolean): { table: string; row: Row } | null;
}

/** From `migration.from` to `migration.to`. */
function forwardHop(migration: VersionMigration): Hop {
  const { from, to, steps } = migration;
  const tableTo = new Map<string, string>();
  const columnTo = new Map<string, Map<string, string>>();
  for (const step of steps) {
    if (step.kind === 'rename-table') tableTo.set(step.from, step.to);
  }
  const newTable = (name: string) => (from.table(name) ? (tableTo.get(name) ?? name) : null);
  for (const step of steps) {
    if (step.kind === 'rename-column') {
      const renames = columnTo.get(step.table) ?? new Map<string, string>();
      renames.set(step.from, step.to);
      columnTo.set(step.table, renames);
    }
  }
  const newColumn = (table: string, column: string): string | null => {
    const t = newTable(table);
    if (t === null || !to.table(t)) return null;
    const name = columnTo.get(t)?.get(column) ?? column;
    return to.table(t)!.column(name) ? name : null;
  };
  return {
    table: (name) => {
      const t = newTable(name);
      return t !== null && to.table(t) ? t : null;
    },
    column: newColumn,
    row(table, row, fill) {
      const t = newTable(table);
      const target = t === null ? undefined : to.table(t);
      if (!target) return null;
      const out: Row = {};
      for (const [key, value] of Object.entries(row)) {
        const name = newColumn(table, key);
        if (name !== null) out[name] = value;
      }
      if (fill) {
        for (const column of target.columns) {
          if (!Object.hasOwn(out, column.name)) out[column.name] = column.default ?? null;
        }
      }
      return { table: target.name, row: out };
    },
  };
}

/** From `migration.to` back to `migration.from`. */
function backwardHop(migration: VersionMigration): Hop {
  const { from, to, steps } = migration;
  const tableFrom = new Map<string, string>();
  const columnFrom = new Map<string, Map<string, string>>();
  for (const step of steps) {
    if (step.kind === 'rename-table') tableFrom.set(step.to, step.from);
    if (step.kind === 'rename-column') {
      const renames = columnFrom.get(step.table) ?? new Map<string, string>();
      renames.set(step.to, step.from);
      columnFrom.set(step.table, renames);
    }
  }
  const oldTable = (name: string): string | null => {
    if (!to.table(name)) return null;
    const old = tableFrom.get(name) ?? name;
    return from.table(old) ? old : null;
  };
  const oldColumn = (table: string, column: string): string | null => {
    const t = oldTable(table);
    if (t === null) return null;
    const name = columnFrom.get(table)?.get(column) ?? column;
    return from.requireTable(t).column(name) ? name : null;
  };
  return {
    table: oldTable,
    column: oldColumn,
    row(table, row) {
      const t = oldTable(table);
      if (t === null) return null;
      const target = from.requireTable(t);
      const out: Row = {};
      for (const [key, value] of Object.entries(row)) {
        const name = oldColumn(table, key);
        if (name !== null) out[name] = value;
      }
      for (const column of target.columns) {
        const value = Object.hasOwn(out, column.name) ? out[column.name] : undefined;
        if (value === undefined || !fits(column, value)) out[column.name] = fallback(column);
      }
      return { table: t, row: out };
    },
  };
}

function fits(column: Column, value: unknown): boolean {
  if (column.serverDerived !== undefined) return true;
  return checkColumnValue(column, value).ok;
}

/** What an older version gets for a value it cannot hold or does not have. */
function fallback(column: Column): JsonValue {
  if (column.default !== undefined) return column.default;
  if (!column.notNull) return null;
  return zeroOf(column.type);
}

function zeroOf(type: ColumnType): JsonValue {
  switch (type) {
    case 'integer':
    case 'real':
      return 0;
    case 'boolean':
      return false;
    case 'timestamp':
      return '1970-01-01T00:00:00.000Z';
    case 'uuid':
      return '00000000-0000-0000-0000-000000000000';
    case 'json':
      return {};
    default:
      return '';
  }
}

/**
 * The SQL that takes a SQLite file from one schema version to the next, for both SQLite users of
 * a migration: the server's embedded store and every client file. What differs between them
 * (their tables' DDL, capture triggers, sync metadata, whether custom SQL runs) is a
 * {@link SqliteMigrationTarget}; the order of the steps and SQLite's rules live here once.
 *
 * @module
 */
import { FerryError } from './errors.js';
import type { Column, Table } from './schema.js';
import type { VersionMigration } from './schema-history.js';

/** What one SQLite user of a migration contributes. */
export interface SqliteMigrationTarget {
  /** Creates a table the migration adds, with its own indexes and capture (idempotent). */
  createTable(table: Table): readonly string[];
  /** The definition of a column, for `ALTER TABLE … ADD COLUMN` and a rebuilt table. */
  columnDef(table: Table, column: Column): string;
  /** The indexes the target makes for a table (not the declared ones), by name. */
  ownIndexNames(table: Table): readonly string[];
  /** Drops the capture triggers of a table by its name. */
  dropTriggers(tableName: string): readonly string[];
  /** Re-creates a table's own indexes and capture triggers (idempotent). */
  ensureTable(table: Table): readonly string[];
  /** Sync metadata that follows a renamed table. */
  renameTableMetadata(from: string, to: string): readonly string[];
  /** Sync metadata of a dropped table. */
  dropTableMetadata(name: string): readonly string[];
  /** Whether the version's custom SQL runs here (the server: yes; a client file: no). */
  readonly runsCustomSql: boolean;
}

/** One version's migration of a SQLite file. */
export interface SqliteMigrationSql {
  /** The statements, in order, for one transaction. */
  readonly statements: readonly string[];
  /** A table is rebuilt: foreign keys must be off around the transaction (SQLite's rule). */
  readonly rebuilds: boolean;
}

/**
 * The SQL of one version's migration: `ALTER TABLE` for renames, added columns and dropped plain
 * columns; a rebuild of the table (create, copy, drop, rename: SQLite's documented procedure)
 * where SQLite cannot alter in place (a column becomes nullable, a reference column is dropped),
 * done after the custom SQL, which may still read what it loses; every table's own indexes,
 * capture triggers and declared indexes re-created before the custom SQL (so its writes are
 * captured) and at the end. A dropped table loses its triggers first: its rows are not captured
 * as deletes. Throws `invalid_schema` when the target runs custom SQL and the migration has it
 * for PostgreSQL only.
 */
export function sqliteMigrationStatements(
  migration: VersionMigration,
  target: SqliteMigrationTarget,
): SqliteMigrationSql {
  const { from, to, steps } = migration;
  const out: string[] = [];
  const rebuilt = new Set<string>();
  const ensureTables = () => {
    for (const table of to.tables) {
      out.push(
        ...target.dropTriggers(table.name),
        ...target.ensureTable(table),
        ...declaredIndexesSql(table),
      );
    }
  };
  const rebuild = (table: Table) => {
    const t = quote(table.name);
    const temp = quote(`ferry_rebuild_${table.name}`);
    const columns = table.columns.map((c) => quote(c.name)).join(', ');
    out.push(
      `CREATE TABLE ${temp} (\n  ${table.columns.map((c) => target.columnDef(table, c)).join(',\n  ')}\n)`,
      `INSERT INTO ${temp} (${columns}) SELECT ${columns} FROM ${t}`,
      `DROP TABLE ${t}`,
      `ALTER TABLE ${temp} RENAME TO ${t}`,
    );
  };
  const oldTableOf = (table: Table) =>
    from.table(table.name) ?? from.requireTable(table.renamedFrom!);
  for (const step of steps) {
    switch (step.kind) {
      case 'rename-table': {
        const old = from.requireTable(step.from);
        out.push(...target.dropTriggers(old.name));
        for (const name of target.ownIndexNames(old))
          out.push(`DROP INDEX IF EXISTS ${quote(name)}`);
        out.push(
          `ALTER TABLE ${quote(step.from)} RENAME TO ${quote(step.to)}`,
          ...target.renameTableMetadata(step.from, step.to),
        );
        break;
      }
      case 'rename-column': {
        const old = oldTableOf(to.requireTable(step.table));
        // Own indexes are named by column: they are made again under the new name.
        for (const name of target.ownIndexNames(old))
          out.push(`DROP INDEX IF EXISTS ${quote(name)}`);
        out.push(
          `ALTER TABLE ${quote(step.table)} RENAME COLUMN ${quote(step.from)} TO ${quote(step.to)}`,
        );
        break;
      }
      case 'drop-index':
        out.push(`DROP INDEX IF EXISTS ${quote(step.index)}`);
        break;
      case 'add-table':
        out.push(...target.createTable(to.requireTable(step.table)));
        break;
      case 'add-column': {
        const table = to.requireTable(step.table);
        out.push(
          `ALTER TABLE ${quote(step.table)} ADD COLUMN ${target.columnDef(table, table.column(step.column)!)}`,
        );
        break;
      }
      case 'change-column':
        // Types widen by affinity and lengths are Ferry's checks; NOT NULL needs a rebuild.
        if (step.changes.includes('nullable')) rebuilt.add(step.table);
        break;
      case 'sql':
        if (!target.runsCustomSql) break;
        if (step.sqlite === undefined) {
          throw new FerryError(
            'invalid_schema',
            `the migration to version ${to.version} has custom SQL for PostgreSQL only; give it for SQLite too (migration.sql.sqlite)`,
          );
        }
        ensureTables();
        out.push(step.sqlite);
        break;
      case 'drop-column': {
        const table = to.requireTable(step.table);
        const old = oldTableOf(table);
        if (old.column(step.column)!.reference !== undefined) {
          rebuilt.add(table.name);
        } else if (!rebuilt.has(table.name)) {
          // SQLite refuses to drop a column an index or a trigger body names.
          for (const name of target.ownIndexNames(old)) {
            out.push(`DROP INDEX IF EXISTS ${quote(name)}`);
          }
          out.push(
            ...target.dropTriggers(table.name),
            `ALTER TABLE ${quote(table.name)} DROP COLUMN ${quote(step.column)}`,
          );
        }
        break;
      }
      case 'drop-table':
        out.push(
          ...target.dropTriggers(step.table),
          `DROP TABLE ${quote(step.table)}`,
          ...target.dropTableMetadata(step.table),
        );
        break;
      case 'add-index':
        break; // ensureTables creates every declared index
    }
  }
  for (const name of rebuilt) rebuild(to.requireTable(name));
  ensureTables();
  return { statements: out, rebuilds: rebuilt.size > 0 };
}

/** The secondary indexes a table declares, on SQLite (`CREATE INDEX IF NOT EXISTS`). */
export function declaredIndexesSql(table: Table): string[] {
  return table.indexes.map(
    (index) =>
      `CREATE INDEX IF NOT EXISTS ${quote(index.sqlName)} ON ${quote(table.name)} (${index.columns.map(quote).join(', ')})`,
  );
}

function quote(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * Selective sync: the schema of a client that syncs only some tables of the app's schema.
 *
 * @module
 */
import { FerryError } from './errors.js';
import { defineSchema, type Schema, type TableDeclaration } from './schema.js';
import { schemaHistory, type SchemaHistory } from './schema-history.js';

/**
 * The part of `schema` made of `tables` (same version): what a client that syncs only those
 * tables runs. The set must hold every table a table of it references (a child without its
 * parent could never pass the integrity gate): throws `invalid_argument` naming each missing
 * parent, or an unknown or repeated table.
 */
export function subsetSchema(schema: Schema, tables: readonly string[]): Schema {
  const problems: string[] = [];
  const wanted = new Set<string>();
  for (const name of tables) {
    if (wanted.has(name)) problems.push(`"${name}" is named twice`);
    wanted.add(name);
    if (!schema.table(name)) problems.push(`"${name}" is no table of the schema`);
  }
  if (wanted.size === 0) problems.push('at least one table must be synced');
  for (const name of wanted) {
    for (const reference of schema.table(name)?.references ?? []) {
      if (!wanted.has(reference.parentTable)) {
        problems.push(
          `${name} references ${reference.parentTable} (${name}.${reference.column}), which is not synced: add "${reference.parentTable}"`,
        );
      }
    }
  }
  if (problems.length > 0) {
    throw new FerryError('invalid_argument', `cannot sync these tables: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  return partOf(schema, wanted);
}

/** The tables of `schema` named in `wanted`, as a schema of the same version and migration. */
function partOf(schema: Schema, wanted: ReadonlySet<string>): Schema {
  const declared: Record<string, TableDeclaration> = {};
  for (const table of schema.tables) {
    if (wanted.has(table.name)) declared[table.name] = schema.declaration.tables[table.name]!;
  }
  const migration = schema.declaration.migration;
  return defineSchema({
    version: schema.version,
    tables: declared,
    ...(migration === undefined ? {} : { migration }),
  });
}

/**
 * Selective sync with versions: the part of each version of `history` that a client syncing
 * `tables` (names of the newest version, checked as {@link subsetSchema} checks them) runs.
 * Each table is followed back through its renames; a version without it leaves it out (the part's
 * history starts at the first version with one of them); an older version keeps the parents its
 * tables referenced then, so each part stands on its own. The parts' migrations are the
 * history's, restricted to those tables (a client runs no custom SQL).
 */
export function subsetHistory(history: SchemaHistory, tables: readonly string[]): SchemaHistory {
  const parts = [subsetSchema(history.latest, tables)];
  let names = new Set(tables);
  for (let i = history.versions.length - 2; i >= 0; i--) {
    const newer = history.versions[i + 1]!;
    const older = history.versions[i]!;
    const before = new Set<string>();
    for (const name of names) {
      const renamed = newer.table(name)?.renamedFrom;
      if (older.table(name)) before.add(name);
      else if (renamed !== undefined && older.table(renamed)) before.add(renamed);
    }
    // No file of this part can be older than the first version with one of its tables.
    if (before.size === 0) break;
    // The parents of the older part, transitively (a reference the newer version dropped).
    for (let grew = true; grew;) {
      grew = false;
      for (const name of before) {
        for (const reference of older.table(name)!.references) {
          if (!before.has(reference.parentTable)) {
            before.add(reference.parentTable);
            grew = true;
          }
        }
      }
    }
    parts.unshift(partOf(older, before));
    names = before;
  }
  return schemaHistory(...parts);
}

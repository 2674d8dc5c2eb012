/**
 * Selective sync: the schema of a client that syncs only some tables of the app's schema.
 *
 * @module
 */
import { FerryError } from './errors.js';
import { defineSchema, type Schema, type TableDeclaration } from './schema.js';

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
  const declared: Record<string, TableDeclaration> = {};
  for (const table of schema.tables) {
    if (wanted.has(table.name)) declared[table.name] = schema.declaration.tables[table.name]!;
  }
  return defineSchema({ version: schema.version, tables: declared });
}

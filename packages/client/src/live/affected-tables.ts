/**
 * The tables a write can change: the ones it names, and every table its deletes can reach
 * through `cascade` or `set null` references (SQLite runs those actions in sub-programs no plan
 * shows). Pure.
 *
 * @module
 */
import type { Schema } from '@ferry/protocol';

/** `tables` and every table a delete in one of them can change through its references. */
export function affectedTables(schema: Schema, tables: Iterable<string>): Set<string> {
  const affected = new Set<string>();
  const visit = (name: string) => {
    if (affected.has(name)) return;
    affected.add(name);
    for (const reference of schema.table(name)?.referencedBy ?? []) {
      if (reference.onDelete === 'cascade' || reference.onDelete === 'set null') {
        visit(reference.childTable);
      }
    }
  };
  for (const name of tables) visit(name);
  return affected;
}

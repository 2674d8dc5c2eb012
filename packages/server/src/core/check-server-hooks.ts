import type { Schema } from '@ferry/protocol';

/**
 * What is wrong with an embedder's hooks for `schema`, or undefined when nothing is: hooks of a
 * table the schema (its newest version) does not have, or something other than a function where
 * a hook belongs. Pure; the server refuses to start with such hooks.
 */
export function serverHooksProblem(schema: Schema, hooks: unknown): string | undefined {
  if (hooks === undefined) return undefined;
  if (typeof hooks !== 'object' || hooks === null) {
    return 'hooks must be an object { tables?, beforeCommit? }';
  }
  const { tables, beforeCommit } = hooks as { tables?: unknown; beforeCommit?: unknown };
  if (beforeCommit !== undefined && typeof beforeCommit !== 'function') {
    return 'hooks.beforeCommit must be a function';
  }
  if (tables === undefined) return undefined;
  if (typeof tables !== 'object' || tables === null) {
    return 'hooks.tables must be an object of table names';
  }
  for (const [name, table] of Object.entries(tables)) {
    if (!schema.table(name)) {
      return `hooks.tables names "${name}", which is no table of the schema (${schema.tables.map((t) => t.name).join(', ')})`;
    }
    if (typeof table !== 'object' || table === null) {
      return `hooks.tables.${name} must be an object { validate?, authorize? }`;
    }
    for (const [key, hook] of Object.entries(table as Record<string, unknown>)) {
      if (key !== 'validate' && key !== 'authorize') {
        return `hooks.tables.${name} has "${key}": only validate and authorize are hooks of a table`;
      }
      if (typeof hook !== 'function' && hook !== undefined) {
        return `hooks.tables.${name}.${key} must be a function`;
      }
    }
  }
  return undefined;
}

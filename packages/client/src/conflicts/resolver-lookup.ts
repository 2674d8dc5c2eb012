/**
 * Which resolver settles a table's conflicts: the schema's per-table policy or the client's
 * `resolvers` option, resolved once when the client is created (an unknown policy name is an
 * `invalid_argument` then, not at the first conflict).
 *
 * @module
 */
import { BUILTIN_RESOLVERS, FerryError, type ConflictResolver, type Schema } from '@ferry/protocol';

/** A table's resolver, with the name of its rule for the journal of settled conflicts. */
export interface TableResolver {
  readonly resolver: ConflictResolver;
  /** The policy's name (built in or custom); `custom` for a function given by table name. */
  readonly rule: string;
}

/** Resolvers by table name. */
export type ResolverLookup = (table: string) => TableResolver;

/** The rule name of a function given directly as `resolvers[table]`. */
export const CUSTOM_RULE = 'custom';

const DEFAULT_RESOLVER: TableResolver = {
  resolver: BUILTIN_RESOLVERS['field-merge'],
  rule: 'field-merge',
};

/** Builds the resolver lookup from the schema's policies and the client's `resolvers` option. */
export function createResolverLookup(
  schema: Schema,
  resolvers: Readonly<Record<string, string | ConflictResolver>> = {},
): ResolverLookup {
  const byTable = new Map<string, TableResolver>();
  const resolve = (setting: string | ConflictResolver, what: string): TableResolver => {
    if (typeof setting === 'function') return { resolver: setting, rule: CUSTOM_RULE };
    if (Object.hasOwn(BUILTIN_RESOLVERS, setting)) {
      return {
        resolver: BUILTIN_RESOLVERS[setting as keyof typeof BUILTIN_RESOLVERS],
        rule: setting,
      };
    }
    const custom = resolvers[setting];
    if (typeof custom === 'function') return { resolver: custom, rule: setting };
    throw new FerryError(
      'invalid_argument',
      `${what} uses conflict policy "${setting}", which is neither built in nor a function in options.resolvers`,
    );
  };
  for (const table of schema.tables) {
    const setting = resolvers[table.name] ?? table.conflictPolicy;
    byTable.set(table.name, resolve(setting, `table ${table.name}`));
  }
  return (table) => byTable.get(table) ?? DEFAULT_RESOLVER;
}

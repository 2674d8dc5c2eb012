import { defineSchema, type Schema, type TableDeclaration } from '@ferry/protocol';

/**
 * The table the counter workload adds to a schema: tallies of a list (`references` the schema's
 * first table that has no parent), each with a counter (`count`: devices add to it offline, and
 * every increment must reach the server once) and a set (`labels`: a JSON array merged as a
 * set). Its conflict policy is drawn per seed like every other table's.
 */
export const TALLIES: TableDeclaration = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    count: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
    labels: { type: 'json', notNull: true, default: [], merge: 'union' },
  },
};

/**
 * `schema` with the `tallies` table (same version: the table is part of every version the
 * simulation runs). Each tally belongs to a row of the schema's first table, deleted with it.
 */
export function withTallies(schema: Schema): Schema {
  const parent = schema.tables.find((t) => t.references.length === 0) ?? schema.tables[0]!;
  const tallies: TableDeclaration = {
    ...TALLIES,
    columns: {
      ...TALLIES.columns,
      parent_id: {
        type: parent.column(parent.primaryKey)!.type,
        references: { table: parent.name, onDelete: 'cascade' },
      },
    },
  };
  return defineSchema({
    ...schema.declaration,
    tables: { ...schema.declaration.tables, tallies },
  });
}

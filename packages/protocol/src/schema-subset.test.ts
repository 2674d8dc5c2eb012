import { describe, expect, it } from 'vitest';
import { defineSchema } from './schema.js';
import { subsetSchema } from './schema-subset.js';

const schema = defineSchema({
  version: 3,
  tables: {
    lists: { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } },
    todos: {
      owner: 'o',
      columns: {
        id: { type: 'uuid' },
        o: { type: 'text' },
        list_id: { type: 'uuid', references: { table: 'lists' } },
      },
    },
    notes: { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } },
  },
});

describe('the part of a schema a client syncs', () => {
  it('keeps the named tables, in relation order, at the same version', () => {
    const part = subsetSchema(schema, ['todos', 'lists']);
    expect(part.tables.map((t) => t.name)).toEqual(['lists', 'todos']);
    expect(part.version).toBe(3);
    expect(part.requireTable('todos').references).toHaveLength(1);
  });

  it('refuses a child without its parent, an unknown or repeated table, and nothing at all, naming each', () => {
    expect(() => subsetSchema(schema, ['todos', 'nope', 'todos'])).toThrow(
      'cannot sync these tables: "nope" is no table of the schema; "todos" is named twice; todos references lists (todos.list_id), which is not synced: add "lists"',
    );
    expect(() => subsetSchema(schema, [])).toThrow(/at least one table/);
  });
});

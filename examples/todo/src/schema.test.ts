import { describe, expect, it } from 'vitest';
import { todoSchema } from './schema.js';

describe('the example schema', () => {
  it('declares the tables and columns of protocol.md', () => {
    const describeTable = (name: string) =>
      todoSchema
        .requireTable(name)
        .columns.map((c) => [
          c.name,
          c.type,
          c.notNull,
          c.maxLength ?? null,
          c.serverDerived ?? null,
        ]);
    expect(describeTable('lists')).toEqual([
      ['id', 'uuid', true, null, null],
      ['owner_id', 'text', true, null, null],
      ['name', 'text', true, 200, null],
      ['created_at', 'timestamp', false, null, null],
      ['updated_at', 'timestamp', false, null, 'commitTime'],
    ]);
    expect(describeTable('todos')).toEqual([
      ['id', 'uuid', true, null, null],
      ['owner_id', 'text', true, null, null],
      ['list_id', 'uuid', true, null, null],
      ['title', 'text', true, 500, null],
      ['done', 'boolean', true, null, null],
      ['position', 'real', false, null, null],
      ['updated_at', 'timestamp', false, null, 'commitTime'],
    ]);
    expect(todoSchema.requireTable('todos').references[0]).toMatchObject({
      parentTable: 'lists',
      onDelete: 'cascade',
    });
    expect(todoSchema.graph.tableOrder).toEqual(['lists', 'todos']);
  });
});

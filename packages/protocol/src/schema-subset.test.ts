import { describe, expect, it } from 'vitest';
import { defineSchema } from './schema.js';
import { schemaHistory } from './schema-history.js';
import { subsetHistory, subsetSchema } from './schema-subset.js';

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

describe('the part of each version a client syncs', () => {
  it('follows the tables back through renames, leaves out the versions before them, and migrates along the part', () => {
    const lists = { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } } as const;
    const todos1 = {
      owner: 'o',
      columns: {
        id: { type: 'uuid' },
        o: { type: 'text' },
        list_id: { type: 'uuid', references: { table: 'lists' } },
        title: { type: 'text' },
      },
    } as const;
    const tags = {
      owner: 'o',
      columns: {
        id: { type: 'uuid' },
        o: { type: 'text' },
        list_id: { type: 'uuid', references: { table: 'lists' } },
      },
    } as const;
    const { title, ...rest } = todos1.columns;
    const todos3 = { ...todos1, columns: { ...rest, text: { ...title, renamedFrom: 'title' } } };
    const history = schemaHistory(
      defineSchema({ version: 1, tables: { lists, todos: todos1 } }),
      defineSchema({ version: 2, tables: { lists, todos: todos1, tags } }),
      defineSchema({ version: 3, tables: { lists, todos: todos3, tags } }),
    );
    const part = subsetHistory(history, ['lists', 'tags']);
    expect(part.versions.map((v) => [v.version, v.tables.map((t) => t.name)])).toEqual([
      [1, ['lists']],
      [2, ['lists', 'tags']],
      [3, ['lists', 'tags']],
    ]);
    expect(part.latest.fingerprint).toBe(
      subsetSchema(history.latest, ['lists', 'tags']).fingerprint,
    );
    expect(part.migrations(1, 2)[0]!.steps).toEqual([{ kind: 'add-table', table: 'tags' }]);
    // A part with todos renames its column as the whole history does.
    expect(subsetHistory(history, ['lists', 'todos']).migrations(2, 3)[0]!.steps).toContainEqual(
      expect.objectContaining({ kind: 'rename-column', table: 'todos', from: 'title', to: 'text' }),
    );
    // A table that came later: its part starts with it.
    expect(subsetHistory(history, ['tags', 'lists']).versions[0]!.version).toBe(1);
    const onlyTags = subsetHistory(
      schemaHistory(
        defineSchema({ version: 1, tables: { notes: lists } }),
        defineSchema({ version: 2, tables: { notes: lists, lists, tags } }),
      ),
      ['lists', 'tags'],
    );
    expect(onlyTags.versions.map((v) => v.version)).toEqual([2]);
  });

  it('follows a renamed table back to its old name', () => {
    const v1 = defineSchema({
      version: 1,
      tables: { notes: { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } } },
    });
    const v2 = defineSchema({
      version: 2,
      tables: {
        memos: {
          owner: 'o',
          renamedFrom: 'notes',
          columns: { id: { type: 'uuid' }, o: { type: 'text' } },
        },
      },
    });
    const part = subsetHistory(schemaHistory(v1, v2), ['memos']);
    expect(part.versions.map((v) => v.tables.map((t) => t.name))).toEqual([['notes'], ['memos']]);
    expect(part.withFingerprint(v1.fingerprint)?.version).toBe(1);
  });

  it('refuses what subsetSchema refuses, for the newest version', () => {
    expect(() => subsetHistory(schemaHistory(schema), ['todos'])).toThrow(/not synced/);
  });
});

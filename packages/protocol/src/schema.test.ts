import { describe, expect, expectTypeOf, it } from 'vitest';
import { isFerryError } from './errors.js';
import { defineSchema, type RowOf, type SchemaDeclaration } from './schema.js';
import { temporaryKey } from './temporary-keys.js';

const todo = defineSchema({
  tables: {
    todos: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        list_id: {
          type: 'uuid',
          notNull: true,
          references: { table: 'lists', onDelete: 'cascade' },
        },
        title: { type: 'text', notNull: true, maxLength: 500 },
        done: { type: 'boolean', notNull: true, default: false },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
    lists: {
      owner: 'owner_id',
      conflictPolicy: 'server-wins',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true, maxLength: 200 },
      },
    },
  },
});

function problemsOf(declaration: SchemaDeclaration): string[] {
  try {
    defineSchema(declaration);
  } catch (error) {
    if (isFerryError(error, 'invalid_schema'))
      return (error.details as { problems: string[] }).problems;
    throw error;
  }
  return [];
}

describe('defineSchema', () => {
  it('orders tables parents first even when children are declared first', () => {
    expect(todo.tables.map((t) => t.name)).toEqual(['lists', 'todos']);
    expect(todo.graph.tableOrder).toEqual(['lists', 'todos']);
    expect(todo.graph.deleteOrder).toEqual(['todos', 'lists']);
  });

  it('resolves references with their on-delete action and whether they are required', () => {
    const todos = todo.requireTable('todos');
    expect(todos.references).toEqual([
      {
        childTable: 'todos',
        column: 'list_id',
        parentTable: 'lists',
        parentColumn: 'id',
        onDelete: 'cascade',
        required: true,
        inCycle: false,
      },
    ]);
    expect(todo.requireTable('lists').referencedBy).toHaveLength(1);
  });

  it('makes the primary key and owner column not-null and leaves server-derived columns out of client columns', () => {
    const todos = todo.requireTable('todos');
    expect(todos.column('id')?.notNull).toBe(true);
    expect(todos.column('owner_id')?.isOwner).toBe(true);
    expect(todos.clientColumns.map((c) => c.name)).not.toContain('updated_at');
    expect(todos.conflictPolicy).toBe('field-merge');
    expect(todo.requireTable('lists').conflictPolicy).toBe('server-wins');
  });

  it('gives a stable fingerprint that changes with the declaration', () => {
    const again = defineSchema(todo.declaration);
    expect(again.fingerprint).toBe(todo.fingerprint);
    const changed = defineSchema({
      tables: {
        ...todo.declaration.tables,
        lists: { ...todo.declaration.tables.lists, conflictPolicy: 'manual' },
      },
    });
    expect(changed.fingerprint).not.toBe(todo.fingerprint);
  });

  it('gives every column the merge rule of its table unless it declares its own', () => {
    const schema = defineSchema({
      tables: {
        notes: {
          owner: 'o',
          merge: 'manual',
          columns: {
            id: { type: 'uuid' },
            o: { type: 'text' },
            title: { type: 'text' },
            color: { type: 'text', merge: 'server' },
          },
        },
      },
    });
    const notes = schema.requireTable('notes');
    expect(notes.columns.map((c) => [c.name, c.merge])).toEqual([
      ['id', 'manual'],
      ['o', 'manual'],
      ['title', 'manual'],
      ['color', 'server'],
    ]);
    expect(todo.requireTable('todos').column('title')?.merge).toBe('server');
    // A rule is part of the declaration: it changes the fingerprint like any other setting.
    const manualTitle = defineSchema({
      tables: {
        ...todo.declaration.tables,
        todos: {
          ...todo.declaration.tables.todos,
          columns: {
            ...todo.declaration.tables.todos.columns,
            title: { type: 'text', notNull: true, maxLength: 500, merge: 'manual' },
          },
        },
      },
    });
    expect(manualTitle.fingerprint).not.toBe(todo.fingerprint);
  });

  it('types rows from the declaration', () => {
    expectTypeOf<RowOf<typeof todo, 'todos'>['done']>().toEqualTypeOf<boolean>();
    expectTypeOf<RowOf<typeof todo, 'todos'>['updated_at']>().toEqualTypeOf<string | null>();
    expectTypeOf<RowOf<typeof todo, 'lists'>['name']>().toEqualTypeOf<string>();
  });

  it.each([
    [
      'an unknown referenced table',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              b_id: { type: 'uuid', references: { table: 'b' } },
            },
          },
        },
      },
      'a.b_id references unknown table "b"',
    ],
    [
      'a missing owner column',
      { tables: { a: { owner: 'owner_id', columns: { id: { type: 'uuid' } } } } },
      'a: owner column "owner_id" is not declared',
    ],
    [
      'a missing primary key',
      {
        tables: {
          a: {
            owner: 'o',
            primaryKey: 'key',
            columns: { id: { type: 'uuid' }, o: { type: 'text' } },
          },
        },
      },
      'a: primary key column "key" is not declared',
    ],
    [
      'a reference to a key of another type',
      {
        tables: {
          a: { owner: 'o', columns: { id: { type: 'integer' }, o: { type: 'text' } } },
          b: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              a_id: { type: 'uuid', references: { table: 'a' } },
            },
          },
        },
      },
      'b.a_id is uuid but references a.id of type integer',
    ],
    [
      'set null on a not-null column',
      {
        tables: {
          a: { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } },
          b: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              a_id: {
                type: 'uuid',
                notNull: true,
                references: { table: 'a', onDelete: 'set null' },
              },
            },
          },
        },
      },
      'b.a_id is not-null, so onDelete "set null" is impossible',
    ],
    [
      'maxLength on a number',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'integer', maxLength: 3 },
            },
          },
        },
      },
      'a.n: maxLength applies to text columns only',
    ],
    [
      'a server-derived column that is not a timestamp',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'integer', serverDerived: 'commitTime' },
            },
          },
        },
      },
      'a.n: serverDerived "commitTime" needs a timestamp column',
    ],
    [
      'a default of the wrong type',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              done: { type: 'boolean', default: 'no' },
            },
          },
        },
      },
      'a.done: default must be true or false',
    ],
    [
      'a reserved table name',
      {
        tables: {
          ferry_rows: { owner: 'o', columns: { id: { type: 'uuid' }, o: { type: 'text' } } },
        },
      },
      'table name "ferry_rows" must be a lower-case SQL identifier not starting with ferry_, sqlite_ or pg_',
    ],
    [
      'an unknown merge rule of a column',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'text', merge: 'newest' as 'server' },
            },
          },
        },
      },
      'a.n: merge must be "server", "client", "manual", "max", "min", "union", "counter" or { latest: column }',
    ],
    [
      'a value rule on a column of the wrong type',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'text', merge: 'max' },
            },
          },
        },
      },
      'a.n: merge "max" needs an integer, real or timestamp column',
    ],
    [
      'a union rule on a column that is not json',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'integer', merge: 'union' },
            },
          },
        },
      },
      'a.n: merge "union" needs a json column (an array used as a set)',
    ],
    [
      'a latest rule by a column that is no timestamp',
      {
        tables: {
          a: {
            owner: 'o',
            columns: {
              id: { type: 'uuid' },
              o: { type: 'text' },
              n: { type: 'text', merge: { latest: 'o' } },
            },
          },
        },
      },
      'a.n: merge { latest } must name another timestamp column of the table',
    ],
    [
      'an unknown merge rule of a table',
      {
        tables: {
          a: {
            owner: 'o',
            merge: 'both' as 'server',
            columns: { id: { type: 'uuid' }, o: { type: 'text' } },
          },
        },
      },
      'a: merge must be "server", "client" or "manual"',
    ],
  ] as [string, SchemaDeclaration, string][])('rejects %s', (_name, declaration, problem) => {
    expect(problemsOf(declaration)).toContain(problem);
  });

  it('allows a reference cycle but reports it and marks its references', () => {
    const schema = defineSchema({
      tables: {
        users: {
          owner: 'o',
          columns: {
            id: { type: 'uuid' },
            o: { type: 'text' },
            best_post: { type: 'uuid', references: { table: 'posts', onDelete: 'set null' } },
          },
        },
        posts: {
          owner: 'o',
          columns: {
            id: { type: 'uuid' },
            o: { type: 'text' },
            author: { type: 'uuid', notNull: true, references: { table: 'users' } },
          },
        },
        tags: {
          owner: 'o',
          columns: {
            id: { type: 'text' },
            o: { type: 'text' },
            parent: { type: 'text', references: { table: 'tags' } },
          },
        },
      },
    });
    expect(schema.graph.cycles).toEqual([['users', 'posts'], ['tags']]);
    expect(schema.warnings).toHaveLength(2);
    expect(schema.warnings[0]).toContain('users → posts → users');
    expect(schema.requireTable('posts').references[0]?.inCycle).toBe(true);
    expect(schema.graph.tableOrder).toEqual(['users', 'posts', 'tags']);
  });
});

describe('keys assigned by the server', () => {
  const table = (id: { type: 'integer' | 'uuid' | 'text' }) => ({
    tables: {
      t: { owner: 'o', keys: 'server' as const, columns: { id, o: { type: 'text' as const } } },
    },
  });

  it('is declared on a table with an integer or uuid key', () => {
    expect(defineSchema(table({ type: 'integer' })).requireTable('t').serverKeys).toBe(true);
    expect(defineSchema(table({ type: 'uuid' })).requireTable('t').serverKeys).toBe(true);
  });

  it('refuses a text key, which the server has no way to draw', () => {
    expect(() => defineSchema(table({ type: 'text' }))).toThrow(
      /keys "server" needs an integer or uuid/,
    );
  });

  it('hands out temporary keys: negative integers, or uuids', () => {
    const ints = defineSchema(table({ type: 'integer' })).requireTable('t');
    const keys = Array.from({ length: 100 }, () => temporaryKey(ints) as number);
    expect(keys.every((k) => Number.isSafeInteger(k) && k < 0)).toBe(true);
    expect(new Set(keys).size).toBe(100);
    expect(temporaryKey(defineSchema(table({ type: 'uuid' })).requireTable('t'))).toMatch(
      /^[0-9a-f-]{36}$/,
    );
  });
});

import { defineSchema, schemaHistory } from '@ferry/protocol';
import { todoSchema } from './schema.js';

/**
 * Five versions of the todo app's schema, as an app that ships every week keeps them: each
 * version is a whole declaration (the newest is what the app's code uses), and Ferry reads the
 * migration between two versions off their difference. Only renames (`renamedFrom`) and custom
 * SQL (`migration.sql`) are declared.
 *
 * 1. {@link todoSchema}: lists and todos.
 * 2. `todos.priority` (not-null, default 0) and an index on `(list_id, done)`.
 * 3. A `tags` table whose rows reference a list.
 * 4. `todos.title` renamed to `todos.text`.
 * 5. `todos.position` dropped, after a backfill that keeps it as the priority of todos that had
 *    none.
 */
const lists = todoSchema.declaration.tables.lists;
const todos1 = todoSchema.declaration.tables.todos;

const todos2 = {
  ...todos1,
  columns: { ...todos1.columns, priority: { type: 'integer', notNull: true, default: 0 } },
  indexes: { by_list_done: { columns: ['list_id', 'done'] } },
} as const;

const tags = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    list_id: { type: 'uuid', notNull: true, references: { table: 'lists', onDelete: 'cascade' } },
    label: { type: 'text', notNull: true, maxLength: 50 },
  },
} as const;

const { title, ...todos4Columns } = todos2.columns;
const todos4 = {
  ...todos2,
  columns: { ...todos4Columns, text: { ...title, renamedFrom: 'title' } },
} as const;

const { position: _position, ...todos5Columns } = todos4.columns;
const todos5 = { ...todos4, columns: todos5Columns } as const;

export const todoV2 = defineSchema({ version: 2, tables: { lists, todos: todos2 } });
export const todoV3 = defineSchema({ version: 3, tables: { lists, todos: todos2, tags } });
export const todoV4 = defineSchema({ version: 4, tables: { lists, todos: todos4, tags } });
export const todoV5 = defineSchema({
  version: 5,
  tables: { lists, todos: todos5, tags },
  migration: {
    // Runs on the server before `position` goes; the todos it changes reach devices as bundles.
    sql: {
      sqlite:
        'UPDATE todos SET priority = CAST(position AS INTEGER) WHERE priority = 0 AND position IS NOT NULL AND CAST(position AS INTEGER) <> 0',
      postgres:
        'UPDATE todos SET priority = trunc(position) WHERE priority = 0 AND position IS NOT NULL AND trunc(position) <> 0',
    },
  },
});

/** The history: what a server that serves every installed version of the app is given. */
export const todoHistory = schemaHistory(todoSchema, todoV2, todoV3, todoV4, todoV5);

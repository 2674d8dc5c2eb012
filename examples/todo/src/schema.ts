import { defineSchema } from '@ferry/protocol';

/**
 * The example schema of protocol.md: lists of todos, each row owned by one user. `ferry serve`
 * loads it when no `--schema` is given.
 */
export const todoSchema = defineSchema({
  tables: {
    lists: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true, maxLength: 200 },
        created_at: { type: 'timestamp' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
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
        position: { type: 'real' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
});

/** The example schema's type. */
export type TodoSchema = typeof todoSchema;

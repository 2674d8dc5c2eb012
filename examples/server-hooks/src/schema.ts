import { defineSchema } from '@ferry/protocol';

/**
 * The schema of the server-hooks example: the todo lists of `@ferry/example-todo` with an
 * `archived` flag, and an audit log that only the server writes (its `beforeCommit` hook).
 *
 *   ferry serve --schema examples/server-hooks/src/schema.ts --hooks examples/server-hooks/src/hooks.ts
 */
export const auditedTodoSchema = defineSchema({
  tables: {
    lists: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true, maxLength: 200 },
        archived: { type: 'boolean', notNull: true, default: false },
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
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
    audit_log: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        table_name: { type: 'text', notNull: true },
        row_pk: { type: 'text', notNull: true },
        op: { type: 'text', notNull: true },
        source: { type: 'text', notNull: true },
        at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
});

export default auditedTodoSchema;

/** The example schema's type. */
export type AuditedTodoSchema = typeof auditedTodoSchema;

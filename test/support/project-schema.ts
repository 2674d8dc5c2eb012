/**
 * A schema whose keys the server assigns: projects (integer keys from a sequence), tasks in them
 * (uuid keys the server draws) and notes on tasks (the client's own uuid keys).
 */
import { defineSchema } from '@ferry/protocol';

export const projectSchema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      keys: 'server',
      columns: {
        id: { type: 'integer' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true },
      },
    },
    tasks: {
      owner: 'owner_id',
      keys: 'server',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        project_id: { type: 'integer', references: { table: 'projects', onDelete: 'cascade' } },
        title: { type: 'text', notNull: true },
      },
    },
    notes: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        task_id: { type: 'uuid', references: { table: 'tasks', onDelete: 'cascade' } },
        body: { type: 'text', notNull: true },
      },
    },
  },
});
export type ProjectSchema = typeof projectSchema;

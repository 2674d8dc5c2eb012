import type { HookContext, HookVerdict, ServerHooks } from '@ferry/server';
import type { AuditedTodoSchema } from './schema.js';

/**
 * The server-side rules of the example (`ferry serve --hooks examples/server-hooks/src/hooks.ts`,
 * or `createFerryServer({ hooks })`):
 *
 * - a list's name and a todo's title may not be blank (`validate`: `name_blank`, `title_blank`);
 * - no todo may be added to or changed in an archived list (`authorize`: `list_archived`);
 * - a token whose `role` claim is `viewer` changes nothing (`authorize`: `read_only`);
 * - the audit log is the server's: no device writes it (`authorize`: `audit_is_server_only`),
 *   and `beforeCommit` adds one row per pushed change, which syncs to every device of the user
 *   in the push's own bundle.
 */
const blank = (value: unknown): boolean => typeof value !== 'string' || value.trim() === '';

const readOnlyViewers = (_change: unknown, ctx: Pick<HookContext, 'claims'>): HookVerdict =>
  ctx.claims.role === 'viewer'
    ? { refuse: { code: 'read_only', message: 'viewers cannot change lists or todos' } }
    : undefined;

// Typed by the schema: only its tables, and `change.row` has each table's columns.
const hooks: ServerHooks<AuditedTodoSchema> = {
  tables: {
    lists: {
      validate: (change) =>
        change.op === 'upsert' && blank(change.row?.name)
          ? { refuse: { code: 'name_blank', message: 'a list needs a name' } }
          : undefined,
      authorize: readOnlyViewers,
    },
    todos: {
      validate: (change) => {
        if (change.op === 'upsert' && blank(change.row?.title)) {
          return { refuse: { code: 'title_blank', message: 'a todo needs a title' } };
        }
        return undefined;
      },
      authorize: async (change, ctx) => {
        const viewer = readOnlyViewers(change, ctx);
        if (viewer) return viewer;
        if (change.op !== 'upsert') return undefined;
        // The list as the server has it before this push (null: new, or not the caller's).
        const list = await ctx.get('lists', change.row!.list_id);
        if (list?.archived === true) {
          return {
            refuse: {
              code: 'list_archived',
              message: `the list "${String(list.name)}" is archived`,
            },
          };
        }
        return undefined;
      },
    },
    audit_log: {
      authorize: () => ({
        refuse: { code: 'audit_is_server_only', message: 'the audit log is written by the server' },
      }),
    },
  },
  async beforeCommit(tx, bundle) {
    for (const [i, change] of bundle.changes.entries()) {
      await tx.upsert('audit_log', {
        id: `${bundle.sourceId}:${bundle.sourceBundleId}:${i}`,
        table_name: change.table,
        row_pk: String(change.pk),
        op: change.op,
        source: bundle.sourceId,
      });
    }
  },
};

export default hooks;

import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { FerryError, defineSchema, type Change } from '@ferry/protocol';
import { hookChangeOf, judgeChanges, readVerdict, type JudgeInput } from './judge-changes.js';
import type { HookReader, ServerHooks } from './server-hooks.js';
import { validateChanges, type NormalizedChange } from './validate-changes.js';

const LIST = '00000000-0000-4000-8000-000000000001';
const TODO = '00000000-0000-4000-8000-000000000002';

function normalized(changes: Change[]): readonly NormalizedChange[] {
  const result = validateChanges(todoSchema, 'alice', changes);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.changes;
}

/** A reader over a fixed set of rows, as the stores' readers answer for a user. */
const NO_READS: HookReader = {
  get: () => Promise.reject(new Error('this test reads nothing')),
  query: () => Promise.reject(new Error('this test queries nothing')),
};

function judged(hooks: ServerHooks, changes: Change[]): Promise<unknown> {
  const input: JudgeInput = {
    hooks,
    userId: 'alice',
    claims: { role: 'editor' },
    reader: NO_READS,
    changes: normalized(changes).map((change) => ({
      change,
      seen: hookChangeOf(change, null),
      serverRow: null,
    })),
  };
  return judgeChanges(input);
}

const newTodo = (title: string): Change => ({
  table: 'todos',
  pk: TODO,
  op: 'upsert',
  baseVersion: null,
  row: { id: TODO, list_id: LIST, title },
});
const newList: Change = {
  table: 'lists',
  pk: LIST,
  op: 'upsert',
  baseVersion: null,
  row: { id: LIST, name: 'inbox' },
};

describe('readVerdict', () => {
  it('accepts undefined and null', () => {
    expect(readVerdict(undefined)).toEqual({ kind: 'accept' });
    expect(readVerdict(null)).toEqual({ kind: 'accept' });
  });

  it('reads a refusal with its code and message', () => {
    expect(readVerdict({ refuse: { code: 'over_limit', message: 'ten at most' } })).toEqual({
      kind: 'refuse',
      refusal: { code: 'over_limit', message: 'ten at most' },
    });
  });

  it.each([
    ['something else than a refusal', { ok: true }],
    ['a refusal without an object', { refuse: 'no' }],
    ['an empty code', { refuse: { code: '', message: 'm' } }],
    ['a code with spaces', { refuse: { code: 'too many', message: 'm' } }],
    ['a code of 65 characters', { refuse: { code: 'x'.repeat(65), message: 'm' } }],
    ["Ferry's forbidden", { refuse: { code: 'forbidden', message: 'm' } }],
    ["Ferry's too_long", { refuse: { code: 'too_long', message: 'm' } }],
    ['a message that is no string', { refuse: { code: 'c', message: 3 } }],
    ['a message over 1,000 characters', { refuse: { code: 'c', message: 'm'.repeat(1001) } }],
  ])('calls %s malformed', (_name, verdict) => {
    expect(readVerdict(verdict).kind).toBe('malformed');
  });
});

describe('hookChangeOf', () => {
  it('shows an upsert of a row the server has as the row it will store', () => {
    const [change] = normalized([
      {
        table: 'todos',
        pk: TODO,
        op: 'upsert',
        baseVersion: 3,
        row: { id: TODO, list_id: LIST, title: 'new title', done: false },
        columns: ['title'],
      },
    ]);
    const server = { id: TODO, owner_id: 'alice', list_id: LIST, title: 'old', done: true };
    expect(hookChangeOf(change!, server)).toEqual({
      table: 'todos',
      pk: TODO,
      op: 'upsert',
      row: { ...server, title: 'new title' },
      columns: ['owner_id', 'title'],
      baseVersion: 3,
    });
  });

  it('shows a counter with a delta as the value it will store: the current one plus the delta', () => {
    const shop = defineSchema({
      tables: {
        items: {
          owner: 'owner_id',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
            stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
          },
        },
      },
    });
    const result = validateChanges(shop, 'alice', [
      {
        table: 'items',
        pk: TODO,
        op: 'upsert',
        baseVersion: 2,
        row: { id: TODO, stock: 8 },
        columns: ['stock'],
        deltas: { stock: -2 },
      },
    ]);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const server = { id: TODO, owner_id: 'alice', stock: 15 };
    expect(hookChangeOf(result.changes[0]!, server).row).toEqual({ ...server, stock: 13 });
  });

  it('shows a new row whole, defaults filled in, and a delete without a row', () => {
    const [upsert] = normalized([newTodo('milk')]);
    expect(hookChangeOf(upsert!, null).row).toEqual({
      id: TODO,
      owner_id: 'alice',
      list_id: LIST,
      title: 'milk',
      done: false,
      position: null,
    });
    const [remove] = normalized([{ table: 'todos', pk: TODO, op: 'delete', baseVersion: 4 }]);
    expect(hookChangeOf(remove!, null)).toEqual({
      table: 'todos',
      pk: TODO,
      op: 'delete',
      row: null,
      columns: null,
      baseVersion: 4,
    });
  });
});

describe('judgeChanges', () => {
  it('lists each refused change with its hook, code and message, and skips authorize after a refusal', async () => {
    const authorized: string[] = [];
    const hooks: ServerHooks = {
      tables: {
        todos: {
          validate: (change) =>
            change.row?.title === ''
              ? { refuse: { code: 'title_blank', message: 'needs a title' } }
              : undefined,
          authorize: (change) => {
            authorized.push(String(change.pk));
            return undefined;
          },
        },
      },
    };
    expect(await judged(hooks, [newList, newTodo('')])).toEqual([
      {
        index: 1,
        table: 'todos',
        pk: TODO,
        hook: 'validate',
        hookCode: 'title_blank',
        message: 'needs a title',
      },
    ]);
    expect(authorized).toEqual([]);
    expect(await judged(hooks, [newList, newTodo('milk')])).toEqual([]);
    expect(authorized).toEqual([TODO]);
  });

  it("gives authorize the token's claims and the user", async () => {
    const hooks: ServerHooks = {
      tables: {
        lists: {
          authorize: (_change, ctx) =>
            ctx.claims.role === 'editor' && ctx.userId === 'alice'
              ? { refuse: { code: 'seen', message: `${ctx.userId} as ${String(ctx.claims.role)}` } }
              : undefined,
        },
      },
    };
    expect(await judged(hooks, [newList])).toEqual([
      expect.objectContaining({ hook: 'authorize', hookCode: 'seen', message: 'alice as editor' }),
    ]);
  });

  it('turns a hook that throws, or answers nonsense, into a server error that keeps the cause', async () => {
    const bug = new Error('a bug');
    const throwing = judged(
      {
        tables: {
          lists: {
            validate: () => {
              throw bug;
            },
          },
        },
      },
      [newList],
    );
    await expect(throwing).rejects.toMatchObject({
      code: 'internal',
      message: "the server's validate hook of table lists failed",
      cause: bug,
    });
    await expect(throwing).rejects.toBeInstanceOf(FerryError);
    const nonsense = judged(
      { tables: { lists: { authorize: () => ({ refuse: { code: 'forbidden', message: 'x' } }) } } },
      [newList],
    );
    await expect(nonsense).rejects.toMatchObject({ code: 'internal' });
  });
});

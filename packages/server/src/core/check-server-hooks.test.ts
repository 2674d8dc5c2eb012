import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer } from '../ferry-server.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { serverHooksProblem } from './check-server-hooks.js';

describe('serverHooksProblem', () => {
  it('accepts no hooks, and hooks of the schema’s tables', () => {
    expect(serverHooksProblem(todoSchema, undefined)).toBeUndefined();
    expect(
      serverHooksProblem(todoSchema, {
        tables: { todos: { validate: () => undefined, authorize: () => undefined } },
        beforeCommit: () => undefined,
      }),
    ).toBeUndefined();
  });

  it.each([
    ['hooks that are no object', 'hooks', /must be an object/],
    ['a table the schema does not have', { tables: { notes: {} } }, /"notes", which is no table/],
    [
      'a hook that is no function',
      { tables: { todos: { validate: 'yes' } } },
      /must be a function/,
    ],
    ['an unknown hook name', { tables: { todos: { beforeSave: () => 1 } } }, /"beforeSave"/],
    ['a beforeCommit that is no function', { beforeCommit: 1 }, /beforeCommit must be a function/],
  ])('names %s', (_name, hooks, problem) => {
    expect(serverHooksProblem(todoSchema, hooks)).toMatch(problem);
  });
});

describe('createFerryServer with hooks', () => {
  it('refuses to start with hooks of a table the schema does not have', async () => {
    await expect(
      createFerryServer({
        schema: todoSchema,
        store: createSqliteStore({ path: ':memory:' }),
        auth: { jwtSecret: 'check-hooks-secret-of-at-least-32-bytes' },
        logger: false,
        hooks: { tables: { notes: { validate: () => undefined } } },
      }),
    ).rejects.toMatchObject({ code: 'invalid_argument', message: /"notes", which is no table/ });
  });
});

import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { ConflictContext } from '@ferry/protocol';
import { mergeOrAsk } from './merge-or-ask.js';

const todos = todoSchema.requireTable('todos');
const context: ConflictContext = {
  table: todos,
  pk: 't1',
  serverVersion: 2,
  serverDeleted: false,
  attempts: 0,
};
const row = (patch: Record<string, unknown>) => ({
  id: 't1',
  owner_id: 'ann',
  list_id: 'l1',
  title: 'milk',
  done: false,
  position: 1,
  updated_at: null,
  ...patch,
});

describe('the web app’s conflict policy', () => {
  it('keeps both sides’ edits of different fields', () => {
    expect(mergeOrAsk(row({ done: true }), row({}), row({ title: 'oat milk' }), context)).toEqual({
      kind: 'rebase',
      row: row({ done: true, title: 'oat milk' }),
    });
  });

  it('asks the person when both sides changed the same field', () => {
    expect(
      mergeOrAsk(row({ title: 'skim' }), row({}), row({ title: 'whole' }), context),
    ).toMatchObject({ kind: 'manual', reason: 'changed on both sides: title' });
  });

  it('leaves deletes to the field merge (a local edit of a row deleted on the server waits)', () => {
    expect(
      mergeOrAsk(row({ title: 'x' }), row({}), null, { ...context, serverDeleted: true }),
    ).toMatchObject({ kind: 'manual' });
    expect(mergeOrAsk(null, row({}), row({ title: 'y' }), context)).toEqual({
      kind: 'rebase',
      row: null,
    });
  });
});

import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { Change } from '@ferry/protocol';
import { rowKey, validateChanges } from './validate-changes.js';

const LIST = '11111111-1111-4111-8111-111111111111';
const TODO = '22222222-2222-4222-8222-222222222222';
const upsert = (table: string, pk: string | number, row: Record<string, unknown>): Change => ({
  table,
  pk,
  op: 'upsert',
  baseVersion: null,
  row,
});

describe('validateChanges', () => {
  it('completes an upsert: pk, owner, defaults and nulls filled, server-derived columns ignored', () => {
    const result = validateChanges(todoSchema, 'alice', [
      upsert('todos', TODO, {
        list_id: LIST,
        title: 'milk',
        updated_at: '2020-01-01T00:00:00.000Z',
      }),
    ]);
    expect(result.ok && result.changes[0]!.row).toEqual({
      id: TODO,
      owner_id: 'alice',
      list_id: LIST,
      title: 'milk',
      done: false,
      position: null,
    });
  });

  it('canonicalises timestamps', () => {
    const result = validateChanges(todoSchema, 'alice', [
      upsert('lists', LIST, { name: 'x', created_at: '2026-11-21T10:00:00Z' }),
    ]);
    expect(result.ok && result.changes[0]!.row!.created_at).toBe('2026-11-21T10:00:00.000Z');
  });

  it.each([
    ['an unknown table', upsert('nope', LIST, {}), 'unknown_table', undefined],
    [
      'an unknown column',
      upsert('lists', LIST, { name: 'x', color: 1 }),
      'unknown_column',
      'color',
    ],
    ['a pk of the wrong type', upsert('lists', 'not-a-uuid', { name: 'x' }), 'type_mismatch', 'id'],
    [
      'a row pk unlike the change pk',
      upsert('lists', LIST, { id: TODO, name: 'x' }),
      'type_mismatch',
      'id',
    ],
    ['a value of the wrong type', upsert('lists', LIST, { name: 42 }), 'type_mismatch', 'name'],
    ['a null in a not-null column', upsert('lists', LIST, { name: null }), 'not_null', 'name'],
    ['a missing not-null column without default', upsert('lists', LIST, {}), 'not_null', 'name'],
    ['a text over maxLength', upsert('lists', LIST, { name: 'é'.repeat(201) }), 'too_long', 'name'],
    [
      'another owner',
      upsert('lists', LIST, { name: 'x', owner_id: 'bob' }),
      'owner_mismatch',
      'owner_id',
    ],
  ])('rejects %s', (_name, change, code, column) => {
    const result = validateChanges(todoSchema, 'alice', [change]);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.errors).toEqual([
      expect.objectContaining({ index: 0, code, ...(column ? { column } : {}) }),
    ]);
  });

  it('counts characters, not UTF-16 units, for maxLength', () => {
    const result = validateChanges(todoSchema, 'alice', [
      upsert('lists', LIST, { name: '😀'.repeat(200) }),
    ]);
    expect(result.ok).toBe(true);
  });

  it('reports a duplicate row and every error of every change with its index', () => {
    const result = validateChanges(todoSchema, 'alice', [
      upsert('lists', LIST, { name: 'x' }),
      { table: 'lists', pk: LIST, op: 'delete', baseVersion: 1 },
      upsert('todos', TODO, { list_id: 'bad', title: null }),
    ]);
    expect(!result.ok && result.errors.map((e) => [e.index, e.code, e.column])).toEqual([
      [1, 'duplicate_change', undefined],
      [2, 'type_mismatch', 'list_id'],
      [2, 'not_null', 'title'],
    ]);
  });

  it('keys rows by table and typed pk', () => {
    expect(rowKey('t', 1)).not.toBe(rowKey('t', '1'));
    expect(rowKey('a', 'x')).not.toBe(rowKey('b', 'x'));
  });
});

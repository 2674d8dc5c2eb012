import { describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { assignServerKeys, withPushedKeys, withServerKey } from './server-keys.js';
import { rowKey, validateChanges, type NormalizedChange } from './validate-changes.js';

const schema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      keys: 'server',
      columns: { id: { type: 'integer' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    tasks: {
      owner: 'owner_id',
      keys: 'server',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        project_id: { type: 'integer', references: { table: 'projects' } },
      },
    },
  },
});

function changes(raw: Parameters<typeof validateChanges>[2]): readonly NormalizedChange[] {
  const result = validateChanges(schema, 'u', raw);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.changes;
}

const T = '6f1c0000-0000-4000-8000-000000000001';

describe('assignServerKeys', () => {
  it('gives each temporary insert the next allocated key and rewrites references to it in the same push', () => {
    const keyed = assignServerKeys(
      changes([
        { table: 'projects', pk: -7, op: 'upsert', baseVersion: null, row: { id: -7, name: 'a' } },
        { table: 'projects', pk: -9, op: 'upsert', baseVersion: null, row: { id: -9, name: 'b' } },
        { table: 'tasks', pk: T, op: 'upsert', baseVersion: null, row: { id: T, project_id: -9 } },
      ]),
      new Map([['projects', [41, 42]]]),
    );
    const [a, b, task] = keyed.changes;
    expect([a!.pk, a!.row!['id'], b!.pk, b!.row!['id']]).toEqual([41, 41, 42, 42]);
    expect(task!.pk).not.toBe(T);
    expect(task!.row!['id']).toBe(task!.pk);
    expect(task!.row!['project_id']).toBe(42);
    expect(task!.key).toBe(rowKey('tasks', task!.pk));
    expect(keyed.temporary).toEqual(
      new Map<number, string | number>([
        [0, -7],
        [1, -9],
        [2, T],
      ]),
    );
    expect(keyed.tempKeys.get(rowKey('projects', 42))).toBe(-9);
  });

  it('leaves edits of existing rows, and references to temporary keys the push does not insert, as they are', () => {
    const pushed = changes([
      {
        table: 'projects',
        pk: 3,
        op: 'upsert',
        baseVersion: 2,
        row: { id: 3, name: 'c' },
        columns: ['name'],
      },
      { table: 'tasks', pk: T, op: 'upsert', baseVersion: 4, row: { id: T, project_id: -5 } },
    ]);
    const keyed = assignServerKeys(pushed, new Map());
    expect(keyed.changes).toEqual(pushed);
    expect(keyed.temporary.size).toBe(0);
  });

  it('names a refused temporary insert by the key it was pushed with', () => {
    const refused = withPushedKeys(
      [
        { index: 0, pk: 41, code: 'x' },
        { index: 1, pk: 8, code: 'y' },
      ],
      new Map([[0, -7]]),
    );
    expect(refused).toEqual([
      { index: 0, pk: -7, code: 'x' },
      { index: 1, pk: 8, code: 'y' },
    ]);
  });
});

describe('validateChanges on server-keyed tables', () => {
  it('refuses a new row of an integer-keyed table named by a key that is not negative', () => {
    const result = validateChanges(schema, 'u', [
      { table: 'projects', pk: 0, op: 'upsert', baseVersion: null, row: { id: 0 } },
    ]);
    expect(result).toMatchObject({ ok: false, errors: [{ index: 0, code: 'temporary_key' }] });
  });
});

describe('withServerKey', () => {
  const allocate = () => Promise.resolve(41);

  it('gives a backend insert without a key the next key of an integer table, a random uuid of a uuid table', async () => {
    expect(await withServerKey(schema.table('projects'), { name: 'a' }, allocate)).toEqual({
      name: 'a',
      id: 41,
    });
    const task = await withServerKey(schema.table('tasks'), { project_id: 41 }, allocate);
    expect(task['id']).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
  });

  it('keeps a key the row names, and leaves a table whose keys the client chooses to validation', async () => {
    const never = () => Promise.reject(new Error('no key is allocated'));
    expect(await withServerKey(schema.table('projects'), { id: 3, name: 'a' }, never)).toEqual({
      id: 3,
      name: 'a',
    });
    const clientKeyed = defineSchema({
      tables: {
        notes: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } } },
      },
    });
    expect(await withServerKey(clientKeyed.table('notes'), {}, never)).toEqual({});
    expect(await withServerKey(undefined, {}, never)).toEqual({});
  });
});

describe('temporary keys by origin', () => {
  const insert = (pk: number) =>
    [{ table: 'projects', pk, op: 'upsert' as const, baseVersion: null, row: { id: pk } }] as const;
  const codes = (origin: 'push' | 'backend', pk: number) => {
    const result = validateChanges(schema, 'u', insert(pk), origin);
    return result.ok ? [] : result.errors.map((e) => e.code);
  };

  it('a device inserts under a negative key only', () => {
    expect(codes('push', -5)).toEqual([]);
    expect(codes('push', 5)).toEqual(['temporary_key']);
    expect(codes('push', 0)).toEqual(['temporary_key']);
  });

  it('backend code writes under a real key only, never a negative one', () => {
    expect(codes('backend', 5)).toEqual([]);
    expect(codes('backend', -5)).toEqual(['temporary_key']);
  });
});

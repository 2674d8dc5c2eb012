import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema, type Change } from '@ferry/protocol';
import {
  conflictsWithState,
  decidePush,
  decideSourceBundle,
  pushLookups,
  type RowState,
} from './decide-push.js';
import { rowKey, validateChanges, type NormalizedChange } from './validate-changes.js';

const L1 = '11111111-1111-4111-8111-111111111111';
const L2 = '11111111-1111-4111-8111-222222222222';
const T1 = '22222222-2222-4222-8222-111111111111';

function normalize(changes: Change[]): readonly NormalizedChange[] {
  const result = validateChanges(todoSchema, 'alice', changes);
  if (!result.ok) throw new Error(JSON.stringify(result.errors));
  return result.changes;
}
const list = (pk: string, baseVersion: number | null): Change => ({
  table: 'lists',
  pk,
  op: 'upsert',
  baseVersion,
  row: { name: 'x' },
});
const item = (pk: string, listId: string, baseVersion: number | null = null): Change => ({
  table: 'todos',
  pk,
  op: 'upsert',
  baseVersion,
  row: { list_id: listId, title: 't' },
});
const del = (table: string, pk: string, baseVersion: number | null): Change => ({
  table,
  pk,
  op: 'delete',
  baseVersion,
});
const states = (entries: [string, string, RowState][]) =>
  new Map(entries.map(([table, pk, state]) => [rowKey(table, pk), state]));
const alive = (rowVersion: number, owner = 'alice'): RowState => ({
  owner,
  rowVersion,
  deleted: false,
});
const dead = (rowVersion: number, owner = 'alice'): RowState => ({
  owner,
  rowVersion,
  deleted: true,
});

function decide(changes: Change[], rowStates: Map<string, RowState>) {
  return decidePush({
    schema: todoSchema,
    userId: 'alice',
    changes: normalize(changes),
    rowStates,
    restrictedChildren: new Map(),
  });
}

describe('decideSourceBundle', () => {
  const mine = 'd'.repeat(64);
  const theirs = 'e'.repeat(64);
  it.each([
    [0, null, 1, mine, { kind: 'commit' }],
    [0, null, 2, mine, { kind: 'bundle_gap', lastCommitted: 0 }],
    [3, mine, 4, theirs, { kind: 'commit' }],
    [3, mine, 3, mine, { kind: 'replay' }],
    [3, mine, 3, theirs, { kind: 'bundle_mismatch', lastCommitted: 3 }],
    [3, null, 3, theirs, { kind: 'replay' }],
    [3, mine, 2, mine, { kind: 'stale_bundle', lastCommitted: 3 }],
    [3, mine, 9, mine, { kind: 'bundle_gap', lastCommitted: 3 }],
  ] as const)(
    'last %i (digest %s), pushed %i (digest %s): %o',
    (lastCommitted, stored, sourceBundleId, digest, expected) => {
      expect(
        decideSourceBundle({ lastCommitted, digest: stored }, { sourceBundleId, digest }),
      ).toEqual(expected);
    },
  );
});

describe('decidePush', () => {
  it('lists the rows and parents to read, each once, and the restrict checks', () => {
    const lookups = pushLookups(normalize([item(T1, L1), list(L1, null), del('lists', L2, 1)]));
    expect(lookups.rows.map((r) => [r.table, r.pk])).toEqual([
      ['todos', T1],
      ['lists', L1],
      ['lists', L2],
    ]);
    expect(lookups.restrict).toEqual([]); // todos.list_id cascades
  });

  it.each<[string, Change, RowState | undefined, boolean]>([
    ['upsert of a new row', list(L1, null), undefined, false],
    ['upsert at the current version', list(L1, 3), alive(3), false],
    ['upsert claiming new, row exists', list(L1, null), alive(3), true],
    ['upsert claiming new, tombstone exists', list(L1, null), dead(3), true],
    ['upsert at an old version', list(L1, 2), alive(3), true],
    ['upsert of a row the server never had', list(L1, 2), undefined, true],
    ['upsert re-creating a tombstone at its version', list(L1, 3), dead(3), false],
    ['delete at the current version', del('lists', L1, 3), alive(3), false],
    ['delete at an old version', del('lists', L1, 2), alive(3), true],
    ['delete without version of an existing row', del('lists', L1, null), alive(3), true],
    ['delete of a row never had', del('lists', L1, 7), undefined, false],
    ['delete of a tombstone at its version', del('lists', L1, 3), dead(3), false],
    ['delete of a tombstone at another version', del('lists', L1, 2), dead(3), true],
  ])('%s: conflict %s', (_name, change, state, conflicting) => {
    const decision = decide([change], states(state ? [['lists', L1, state]] : []));
    expect(decision.kind).toBe(conflicting ? 'conflict' : 'apply');
  });

  it('leaves deletes without effect out and orders parents first, children first for deletes', () => {
    const decision = decide(
      [
        del('todos', T1, 1),
        item('22222222-2222-4222-8222-999999999999', L1),
        list(L1, null),
        del('lists', L2, 4),
      ],
      states([
        ['todos', T1, alive(1)],
        ['lists', L2, dead(4)],
      ]),
    );
    expect(decision.kind === 'apply' && decision.changes.map((c) => [c.table.name, c.op])).toEqual([
      ['lists', 'upsert'],
      ['todos', 'upsert'],
      ['todos', 'delete'],
    ]);
  });

  it('puts forbidden before invalid before conflict', () => {
    const theirs = states([['lists', L1, alive(1, 'bob')]]);
    expect(decide([item(T1, L2), list(L1, 1)], theirs)).toEqual({
      kind: 'forbidden',
      changes: [{ index: 1, table: 'lists', pk: L1 }],
    });
    expect(decide([item(T1, L2), list(L1, null)], states([['lists', L1, alive(1)]])).kind).toBe(
      'invalid',
    );
  });

  it('accepts a reference to an alive own parent or one upserted in the bundle, not to a deleted or foreign one', () => {
    expect(decide([item(T1, L1)], states([['lists', L1, alive(2)]])).kind).toBe('apply');
    expect(decide([item(T1, L1), list(L1, null)], new Map()).kind).toBe('apply');
    expect(decide([item(T1, L1)], states([['lists', L1, dead(2)]])).kind).toBe('invalid');
    expect(decide([item(T1, L1)], states([['lists', L1, alive(2, 'bob')]])).kind).toBe('invalid');
    expect(
      decide([item(T1, L1), del('lists', L1, 2)], states([['lists', L1, alive(2)]])).kind,
    ).toBe('invalid');
  });
});

describe('conflictsWithState', () => {
  const lists = todoSchema.requireTable('lists');
  const upsert = (baseVersion: number | null, claim: 'baseDeleted' | 'maybePushed' | null = null) =>
    ({
      table: lists,
      op: 'upsert',
      baseVersion,
      baseDeleted: claim === 'baseDeleted',
      maybePushed: claim === 'maybePushed',
      writes: ['owner_id', 'name'],
    }) as const;
  const remove = (baseVersion: number | null) =>
    ({ table: lists, op: 'delete', baseVersion, writes: undefined }) as const;
  const kept = { rowVersion: 7, deleted: false };

  it('judges a row the server keeps state of by its version alone, whatever the change claims', () => {
    expect(conflictsWithState(upsert(7), kept, 10)).toBe(false);
    expect(conflictsWithState(upsert(6, 'baseDeleted'), kept, 10)).toBe(true);
    expect(conflictsWithState(upsert(null, 'maybePushed'), kept, 0)).toBe(true);
    expect(conflictsWithState(upsert(null), kept, 0)).toBe(true);
    expect(conflictsWithState(remove(6), kept, 0)).toBe(true);
  });

  it('takes an insert of a row it has no state of, unless it may have been pushed before and tombstones were purged', () => {
    expect(conflictsWithState(upsert(null), undefined, 10)).toBe(false);
    expect(conflictsWithState(upsert(null, 'maybePushed'), undefined, 0)).toBe(false);
    expect(conflictsWithState(upsert(null, 'maybePushed'), undefined, 10)).toBe(true);
  });

  it('takes an upsert made on a base row whose version was lost for what it is once tombstones were purged: maybe a row deleted since, a conflict', () => {
    const unversioned = { ...upsert(null), baseUnversioned: true };
    expect(conflictsWithState(unversioned, undefined, 0)).toBe(false);
    expect(conflictsWithState(unversioned, undefined, 10)).toBe(true);
  });

  it('takes a re-creation on a tombstone at or below the floor, and no edit of a live version of a gone row', () => {
    expect(conflictsWithState(upsert(10, 'baseDeleted'), undefined, 10)).toBe(false);
    expect(conflictsWithState(upsert(11, 'baseDeleted'), undefined, 10)).toBe(true);
    expect(conflictsWithState(upsert(5), undefined, 10)).toBe(true);
    expect(conflictsWithState(remove(5), undefined, 10)).toBe(false);
  });

  const shop = defineSchema({
    tables: {
      items: {
        owner: 'owner_id',
        columns: {
          id: { type: 'uuid' },
          owner_id: { type: 'text' },
          name: { type: 'text' },
          stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
          sold: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
        },
      },
      events: {
        owner: 'owner_id',
        appendOnly: true,
        columns: { id: { type: 'uuid' }, owner_id: { type: 'text' }, what: { type: 'text' } },
      },
    },
  });
  const items = shop.requireTable('items');
  const counted = (writes: string[], deltas: Record<string, number> | undefined) =>
    ({
      table: items,
      op: 'upsert',
      baseVersion: 3,
      writes: ['owner_id', ...writes],
      deltas,
    }) as const;

  it('commits a change that writes only counters it has deltas for over a newer version of a live row', () => {
    expect(conflictsWithState(counted(['stock'], { stock: 2 }), kept, 0)).toBe(false);
    expect(conflictsWithState(counted(['stock', 'sold'], { stock: -1, sold: 1 }), kept, 0)).toBe(
      false,
    );
  });

  it('still conflicts when a counter change also writes another column, lacks a delta, or meets a tombstone', () => {
    expect(conflictsWithState(counted(['stock', 'name'], { stock: 2 }), kept, 0)).toBe(true);
    expect(conflictsWithState(counted(['stock', 'sold'], { stock: 2 }), kept, 0)).toBe(true);
    expect(conflictsWithState(counted(['stock'], undefined), kept, 0)).toBe(true);
    expect(
      conflictsWithState(counted(['stock'], { stock: 2 }), { ...kept, deleted: true }, 0),
    ).toBe(true);
    expect(conflictsWithState(counted([], {}), kept, 0)).toBe(true);
  });

  it('deletes a row of an append-only table whatever its version, since devices never change one', () => {
    const events = shop.requireTable('events');
    expect(
      conflictsWithState(
        { table: events, op: 'delete', baseVersion: 2, writes: undefined },
        kept,
        0,
      ),
    ).toBe(false);
  });
});

describe('decidePush with counters', () => {
  it('drops the deltas of an upsert that inserts the row, so the row takes its values', () => {
    const shop = defineSchema({
      tables: {
        items: {
          owner: 'owner_id',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
            stock: { type: 'integer', merge: 'counter' },
          },
        },
      },
    });
    const result = validateChanges(shop, 'alice', [
      {
        table: 'items',
        pk: L1,
        op: 'upsert',
        baseVersion: 4,
        baseDeleted: true,
        row: { stock: 9 },
        columns: ['stock'],
        deltas: { stock: 2 },
      },
    ]);
    if (!result.ok) throw new Error(JSON.stringify(result.errors));
    const live = decidePush({
      schema: shop,
      userId: 'alice',
      changes: result.changes,
      rowStates: new Map([
        [rowKey('items', L1), { owner: 'alice', rowVersion: 6, deleted: false }],
      ]),
      restrictedChildren: new Map(),
    });
    expect(live.kind === 'apply' && live.changes[0]!.deltas).toEqual({ stock: 2 });
    const gone = decidePush({
      schema: shop,
      userId: 'alice',
      changes: result.changes,
      rowStates: new Map([[rowKey('items', L1), { owner: 'alice', rowVersion: 4, deleted: true }]]),
      restrictedChildren: new Map(),
    });
    expect(gone.kind === 'apply' && gone.changes[0]!.deltas).toBeUndefined();
  });
});

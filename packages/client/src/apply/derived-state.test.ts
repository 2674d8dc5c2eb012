import { describe, expect, it } from 'vitest';
import { defineSchema, isFerryError } from '@ferry/protocol';
import { changedKeysOf, derivedRuns, orderDerived, type DerivedState } from './derived-state.js';

const schema = defineSchema({
  tables: {
    lists: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } } },
    todos: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        list_id: { type: 'uuid', references: { table: 'lists', onDelete: 'cascade' } },
      },
    },
  },
});

const state = (name: string, dependsOn: string[]): DerivedState => ({
  name,
  dependsOn,
  rebuild: () => undefined,
});

const refusal = (derived: DerivedState[]) => {
  try {
    orderDerived(schema, derived);
    return null;
  } catch (error) {
    return isFerryError(error, 'invalid_argument') ? error.message : String(error);
  }
};

describe('the order of derived states', () => {
  it('puts a state after the states it depends on, and by the relation graph otherwise', () => {
    const order = orderDerived(schema, [
      state('summary', ['todo_counts', 'list_names']),
      state('todo_counts', ['todos']),
      state('list_names', ['lists']),
    ]);
    expect(order.map((s) => s.name)).toEqual(['list_names', 'todo_counts', 'summary']);
  });

  it('refuses an unknown dependency, a duplicate, a synced table’s name and a cycle', () => {
    expect(refusal([state('x', ['nope'])])).toMatch(/neither a synced table/);
    expect(refusal([state('x', ['todos']), state('x', ['lists'])])).toMatch(/twice/);
    expect(refusal([state('todos', ['lists'])])).toMatch(/is a synced table/);
    expect(refusal([state('a', ['b']), state('b', ['a'])])).toMatch(/cycle/);
  });
});

describe('which derived states a change rebuilds', () => {
  const ordered = orderDerived(schema, [
    state('list_names', ['lists']),
    state('todo_counts', ['todos']),
    state('summary', ['todo_counts']),
  ]);

  it('are those whose tables changed, told the changed keys, and those that depend on them', () => {
    const runs = derivedRuns(
      ordered,
      changedKeysOf([
        { table: 'todos', pk: 't1' },
        { table: 'todos', pk: 't2' },
      ]),
    );
    expect(runs.map((r) => r.entry.name)).toEqual(['todo_counts', 'summary']);
    expect(runs[0]!.changed).toEqual({ all: false, keys: new Map([['todos', ['t1', 't2']]]) });
    expect(runs[1]!.changed).toEqual({ all: false, keys: new Map() });
  });

  it('are all of them after a snapshot, told everything may have changed', () => {
    const runs = derivedRuns(ordered, null);
    expect(runs.map((r) => r.entry.name)).toEqual(['list_names', 'todo_counts', 'summary']);
    expect(runs.every((r) => r.changed.all)).toBe(true);
  });

  it('are none when the change touched nothing they depend on', () => {
    expect(derivedRuns(ordered, changedKeysOf([]))).toEqual([]);
  });
});

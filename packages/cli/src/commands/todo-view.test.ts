import { describe, expect, it } from 'vitest';
import {
  diffSnapshots,
  findOne,
  formatLists,
  formatTodos,
  type TodoSnapshot,
} from './todo-view.js';

const L1 = '11111111-aaaa-4aaa-8aaa-111111111111';
const L2 = '22222222-bbbb-4bbb-8bbb-222222222222';
const T1 = '33333333-cccc-4ccc-8ccc-333333333333';
const T2 = '44444444-dddd-4ddd-8ddd-444444444444';

function snapshot(
  lists: [string, string][],
  todos: [string, string, string, boolean][],
): TodoSnapshot {
  return {
    lists: new Map(lists.map(([id, name]) => [id, { id, name }])),
    todos: new Map(todos.map(([id, listId, title, done]) => [id, { id, listId, title, done }])),
  };
}

describe('the todo view of ferry client', () => {
  it('lists todos per list, open ones first, and counts them', () => {
    const s = snapshot(
      [
        [L1, 'Groceries'],
        [L2, 'Chores'],
      ],
      [
        [T1, L1, 'milk', true],
        [T2, L1, 'bread', false],
      ],
    );
    expect(formatTodos(s)).toEqual([
      'Chores  (22222222)',
      '  (no todos)',
      'Groceries  (11111111)',
      '  [ ] bread  (44444444)',
      '  [x] milk  (33333333)',
    ]);
    expect(formatTodos(s, { id: L2, name: 'Chores' })).toEqual([
      'Chores  (22222222)',
      '  (no todos)',
    ]);
    expect(formatLists(s)).toEqual([
      'Chores  (22222222)  0 open, 0 done',
      'Groceries  (11111111)  1 open, 1 done',
    ]);
  });

  it('describes what changed between two reads: added, changed, removed', () => {
    const before = snapshot(
      [
        [L1, 'Groceries'],
        [L2, 'Chores'],
      ],
      [[T1, L1, 'milk', false]],
    );
    const after = snapshot(
      [[L1, 'Food']],
      [
        [T1, L1, 'milk', true],
        [T2, L1, 'bread', false],
      ],
    );
    expect(diffSnapshots(before, after)).toEqual([
      '~ list Groceries → Food  (11111111)',
      '- list Chores  (22222222)',
      '~ [x] milk  (33333333) in Food',
      '+ [ ] bread  (44444444) in Food',
    ]);
    expect(diffSnapshots(after, after)).toEqual([]);
    expect(diffSnapshots(after, snapshot([], []))).toEqual([
      '- list Food  (11111111)',
      '- milk  (33333333)',
      '- bread  (44444444)',
    ]);
  });

  it('finds one item by id prefix or by name, and says when a name is missing or ambiguous', () => {
    const lists = [
      { id: L1, name: 'Groceries' },
      { id: L2, name: 'groceries' },
    ];
    const name = (l: { name: string }) => l.name;
    expect(findOne(lists, '2222', name, 'list')).toEqual({ ok: true, value: lists[1] });
    expect(findOne(lists, 'GROCERIES', name, 'list')).toMatchObject({
      ok: false,
      message: expect.stringContaining('names 2 lists') as unknown,
    });
    expect(findOne(lists, 'nope', name, 'list')).toEqual({ ok: false, message: 'no list "nope"' });
    expect(findOne(lists, '111', name, 'list')).toMatchObject({ ok: false }); // too short for an id
  });
});

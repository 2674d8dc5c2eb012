import { describe, expect, it } from 'vitest';
import type { SettledConflict } from '@ferry/client';
import { formatConflicts, settledConflictLine } from './conflicts-view.js';

const PK = '6f1c0b8e-8c1d-4c55-9a4e-0d1f2a3b4c5d';
const AT = Date.UTC(2026, 4, 1, 10, 0, 0);

function entry(fields: Partial<SettledConflict>): SettledConflict {
  return {
    id: 7,
    table: 'todos',
    pk: PK,
    rule: 'field-merge',
    loser: 'local',
    columns: ['title'],
    lost: { title: 'milk' },
    won: { title: 'oat milk' },
    serverVersion: 3,
    sourceBundleId: 2,
    at: AT,
    ...fields,
  };
}

describe('settledConflictLine', () => {
  it.each([
    ['a local value that lost', {}, 'field-merge: your title "milk" → "oat milk"'],
    [
      'server values that lost, column by column',
      {
        rule: 'client-wins',
        loser: 'server',
        columns: ['title', 'done'],
        lost: { title: 'b', done: true },
        won: { title: 'a', done: false },
      },
      `client-wins: the server's title "b" → "a", done true → false`,
    ],
    [
      'a local row that lost to a delete',
      {
        rule: 'server-wins',
        columns: ['title', 'done'],
        lost: { title: 'x', done: false },
        won: null,
      },
      'server-wins: your row (title "x", done false) lost to a delete',
    ],
    [
      'a local delete that lost to a row',
      { rule: 'server-wins', columns: ['title'], lost: null, won: { title: 'b' } },
      'server-wins: your delete lost; the row stays (title "b")',
    ],
    [
      'a server delete that lost to a row',
      { rule: 'client-wins', loser: 'server', lost: null, won: { title: 'keep' } },
      `client-wins: the server's delete lost; the row stays (title "keep")`,
    ],
  ] as [string, Partial<SettledConflict>, string][])('shows %s', (_name, fields, text) => {
    expect(settledConflictLine(entry(fields))).toBe(
      `#7  2026-05-01T10:00:00.000Z  todos 6f1c0b8e  ${text}`,
    );
  });
});

describe('formatConflicts', () => {
  it('lists the open conflicts and the journal, or says there are none', () => {
    expect(formatConflicts([], [])).toEqual(['waiting for you: none', 'settled by a policy: none']);
    const open = {
      id: 1,
      table: 'todos',
      pk: PK,
      local: null,
      base: null,
      server: null,
      serverVersion: 2,
      serverDeleted: false,
      reason: 'the table resolves conflicts manually',
      at: AT,
    };
    expect(formatConflicts([open], [entry({ id: 9 }), entry({})])).toEqual([
      'waiting for you (1): the local row is kept and not pushed',
      '  #1  todos 6f1c0b8e  the table resolves conflicts manually',
      'settled by a policy (2, newest first): the value that lost → the one kept',
      '  #9  2026-05-01T10:00:00.000Z  todos 6f1c0b8e  field-merge: your title "milk" → "oat milk"',
      '  #7  2026-05-01T10:00:00.000Z  todos 6f1c0b8e  field-merge: your title "milk" → "oat milk"',
    ]);
  });
});

import { describe, expect, it } from 'vitest';
import { todoV2 } from '@ferry/example-todo';
import { completedRow } from '../apply/normalize-row.js';
import { newestServerState, resolvedPendingOp } from './manual-conflicts.js';

describe('resolvedPendingOp', () => {
  it.each([
    ['a local row the server knows is pushed as an update', true, { deleted: false }, 'U'],
    ['a local row over a server tombstone is pushed as an update', true, { deleted: true }, 'U'],
    ['a local row the server never had is pushed as an insert', true, undefined, 'I'],
    [
      'a row gone locally but alive on the server is pushed as a delete',
      false,
      { deleted: false },
      'D',
    ],
    ['a row gone on both sides needs nothing', false, { deleted: true }, null],
    ['a row neither side has needs nothing', false, undefined, null],
  ] as const)('%s', (_name, exists, server, op) => {
    expect(resolvedPendingOp(exists, server)).toBe(op);
  });
});

describe('newestServerState', () => {
  const known = { version: 4, deleted: false, base: { id: 'x', title: 'known' } };
  const reported = (version: number | null, deleted = false) => ({
    version,
    deleted,
    base: deleted ? null : { id: 'x', title: `v${String(version)}` },
  });

  it.each([
    ['the file’s state when the conflict reported nothing', known, reported(null), known],
    ['the file’s state when it is as new as the conflict’s', known, reported(4), known],
    [
      'the conflict’s state when it is newer',
      known,
      reported(6),
      { version: 6, deleted: false, base: { id: 'x', title: 'v6' } },
    ],
    [
      'the conflict’s tombstone when the file knows nothing of the row',
      undefined,
      reported(7, true),
      { version: 7, deleted: true, base: null },
    ],
    ['nothing when neither knows the row', undefined, reported(null), undefined],
  ] as const)('is %s', (_name, file, conflict, expected) => {
    expect(newestServerState(file, conflict)).toEqual(expected);
  });
});

describe('completedRow', () => {
  const codec = { table: todoV2.requireTable('todos') };
  const given = { id: 't1', list_id: 'l1', title: 'edited' };

  it('takes the columns the app gives and keeps the local row’s values of the others', () => {
    const local = { id: 't1', list_id: 'l0', title: 'old', done: true, priority: 4 };
    expect(completedRow(codec, local, given)).toMatchObject({
      title: 'edited',
      list_id: 'l1',
      done: true,
      priority: 4,
    });
  });

  it('gives a row gone locally the declared defaults, and null where none is declared', () => {
    expect(completedRow(codec, null, given)).toMatchObject({
      title: 'edited',
      done: false,
      priority: 0,
      position: null,
    });
  });
});

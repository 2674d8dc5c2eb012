import { describe, expect, it } from 'vitest';
import { resolvedPendingOp } from './manual-conflicts.js';

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

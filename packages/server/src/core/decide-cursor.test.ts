import { describe, expect, it } from 'vitest';
import {
  decideBasesAt,
  decideCursor,
  snapshotAfterHistory,
  type CursorDecision,
  type CursorState,
} from './decide-cursor.js';

const T4 = 'a'.repeat(64);
const T3 = 'b'.repeat(64);
const OTHER = 'c'.repeat(64);
const AHEAD: CursorDecision = { kind: 'cursor_unknown', reason: 'ahead' };
const DIVERGED: CursorDecision = { kind: 'cursor_unknown', reason: 'history_diverged' };
const PRUNED: CursorDecision = { kind: 'history_pruned' };

/** Last seq 5, pruned through 3 (whose kept token is T3); bundle 4's token is T4. */
const state = (afterToken: string | null, prunedToken: string | null = T3): CursorState => ({
  lastSeq: 5,
  prunedThrough: 3,
  prunedToken,
  afterToken,
});

describe('decideCursor', () => {
  it.each([
    ['a cursor inside the history without a token', { after: 4 }, state(T4), null],
    ['the matching token', { after: 4, token: T4 }, state(T4), null],
    ['another token', { after: 4, token: OTHER }, state(T4), DIVERGED],
    ['a token for a bundle stored without one', { after: 4, token: OTHER }, state(null), null],
    ['the boundary token at the prune boundary', { after: 3, token: T3 }, state(null), null],
    ['another token at the prune boundary', { after: 3, token: OTHER }, state(null), DIVERGED],
    ['a boundary pruned before tokens', { after: 3, token: OTHER }, state(null, null), null],
    ['a cursor behind the prune boundary', { after: 2, token: OTHER }, state(null), PRUNED],
    ['a cursor past the last seq', { after: 6 }, state(null), AHEAD],
    ['a cursor past the last seq with a token', { after: 6, token: T4 }, state(null), AHEAD],
  ])('%s', (_name, cursor, given, expected) => {
    expect(decideCursor(cursor, given)).toEqual(expected);
  });

  it('never checks a token at 0, where every history starts', () => {
    const fresh: CursorState = {
      lastSeq: 0,
      prunedThrough: 0,
      prunedToken: null,
      afterToken: null,
    };
    expect(decideCursor({ after: 0, token: OTHER }, fresh)).toBeNull();
    expect(decideCursor({ after: 0, token: OTHER }, { ...fresh, prunedToken: T3 })).toBeNull();
  });

  it('calls a cursor ahead before it calls it pruned', () => {
    const emptied: CursorState = {
      lastSeq: 2,
      prunedThrough: 2,
      prunedToken: T3,
      afterToken: null,
    };
    expect(decideCursor({ after: 3 }, emptied)).toEqual(AHEAD);
    expect(decideCursor({ after: 1 }, emptied)).toEqual(PRUNED);
  });
});

describe('snapshotAfterHistory', () => {
  it('names a good cursor kept, a pruned one pruned, and one ahead or of another history lost', () => {
    expect(snapshotAfterHistory({ after: 4, token: T4 }, state(T4))).toBe('kept');
    expect(snapshotAfterHistory({ after: 3, token: T3 }, state(null))).toBe('kept');
    expect(snapshotAfterHistory({ after: 2, token: OTHER }, state(null))).toBe('pruned');
    expect(snapshotAfterHistory({ after: 4, token: OTHER }, state(T4))).toBe('lost');
    expect(snapshotAfterHistory({ after: 6 }, state(null))).toBe('lost');
  });
});

describe('decideBasesAt', () => {
  it.each([
    ['a point on the history', { bundleSeq: 4, token: T4 }, state(T4), null],
    ['a point at the last bundle', { bundleSeq: 5, token: T4 }, state(null), null],
    ['a point under another token', { bundleSeq: 4, token: OTHER }, state(T4), DIVERGED],
    ['a point past the last bundle', { bundleSeq: 6, token: T4 }, state(null), AHEAD],
    // Older than the retained history: nothing can tell, as for a pruned checkpoint.
    ['a point before the prune boundary', { bundleSeq: 2, token: OTHER }, state(null), null],
    [
      'a point at the boundary, another token',
      { bundleSeq: 3, token: OTHER },
      state(null),
      DIVERGED,
    ],
  ])('%s', (_name, point, cursorState, expected) => {
    expect(decideBasesAt(point, cursorState)).toEqual(expected);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseBundleCut, type CutCandidate } from './plan-bundle.js';

const entry = (firstGroup: number, lastGroup: number, bytes = 10): CutCandidate => ({
  firstGroup,
  lastGroup,
  bytes,
});

describe('chooseBundleCut', () => {
  const limits = { maxChanges: 4, maxBytes: 1000 };

  it('takes everything that fits', () => {
    expect(chooseBundleCut([entry(1, 1), entry(2, 2)], null, limits)).toEqual({
      take: 2,
      splitsWrite: false,
    });
  });

  it('cuts between writes, never inside one', () => {
    // Writes: 1 (2 rows), 2 (2 rows), 3 (2 rows); at most 4 changes → writes 1 and 2.
    const candidates = [
      entry(1, 1),
      entry(1, 1),
      entry(2, 2),
      entry(2, 2),
      entry(3, 3),
      entry(3, 3),
    ];
    expect(chooseBundleCut(candidates, null, limits)).toEqual({ take: 4, splitsWrite: false });
    // With write 2 having 3 rows, only write 1 fits.
    const bigger = [entry(1, 1), entry(1, 1), entry(2, 2), entry(2, 2), entry(2, 2)];
    expect(chooseBundleCut(bigger, null, limits)).toEqual({ take: 2, splitsWrite: false });
  });

  it('keeps a row coalesced across writes with every write it spans', () => {
    // Row A was written by writes 1 and 3, row B by write 2: the writes chain into one group.
    const candidates = [entry(2, 2), entry(1, 3), entry(4, 4)];
    expect(chooseBundleCut(candidates, null, { maxChanges: 1, maxBytes: 1000 })).toEqual({
      take: 1,
      splitsWrite: true,
    });
    expect(chooseBundleCut(candidates, null, { maxChanges: 2, maxBytes: 1000 })).toEqual({
      take: 2,
      splitsWrite: false,
    });
  });

  it('respects entries that were not loaded', () => {
    // An unloaded entry started in group 2: the cut cannot end at group 2.
    const candidates = [entry(1, 1), entry(2, 2)];
    expect(chooseBundleCut(candidates, 2, limits)).toEqual({ take: 1, splitsWrite: false });
  });

  it('limits by bytes, but always takes a first change even when it alone is larger', () => {
    expect(chooseBundleCut([entry(1, 1, 600), entry(2, 2, 600)], null, limits)).toEqual({
      take: 1,
      splitsWrite: false,
    });
    expect(chooseBundleCut([entry(1, 1, 5000)], null, limits)).toEqual({
      take: 1,
      splitsWrite: false,
    });
  });

  it('splits a single write that alone exceeds the limits, and says so', () => {
    const candidates = Array.from({ length: 6 }, () => entry(1, 1));
    expect(chooseBundleCut(candidates, null, limits)).toEqual({ take: 4, splitsWrite: true });
  });

  it('takes nothing from nothing', () => {
    expect(chooseBundleCut([], null, limits)).toEqual({ take: 0, splitsWrite: false });
  });
});

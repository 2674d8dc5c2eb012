import { describe, expect, it } from 'vitest';
import { UNPINNED, pinOnRemoteEffect, pinOnSettlement, pinnedTo } from './pending-pin.js';

const known = { version: 4, base: { id: 'a', name: 'server v4' } };

describe('pending pins', () => {
  it('pins an unpinned edit to the server state a remote effect replaced', () => {
    expect(pinOnRemoteEffect(UNPINNED, known, false)).toEqual(pinnedTo(4, known.base));
    expect(pinOnRemoteEffect(UNPINNED, undefined, false)).toEqual(pinnedTo(null, null));
  });

  it('keeps the first pin through later remote effects', () => {
    const first = pinnedTo(2, { id: 'a', name: 'server v2' });
    expect(pinOnRemoteEffect(first, known, false)).toBe(first);
  });

  it('never pins an edit stacked on the row’s change in flight on a remote effect', () => {
    expect(pinOnRemoteEffect(UNPINNED, known, true)).toBe(UNPINNED);
  });

  it('gives a stacked edit its base from how the change under it settled', () => {
    const change = { changeBaseVersion: 3, changeBase: { id: 'a', name: 'v3' } };
    expect(pinOnSettlement({ kind: 'ack' })).toEqual(UNPINNED);
    expect(
      pinOnSettlement({ kind: 'late-ack', ours: { version: 5, base: { id: 'a' } }, ...change }),
    ).toEqual(pinnedTo(5, { id: 'a' }));
    expect(pinOnSettlement({ kind: 'late-ack', ours: undefined, ...change })).toEqual(
      pinnedTo(3, change.changeBase),
    );
    expect(
      pinOnSettlement({ kind: 'late-ack', ours: { version: null, base: null }, ...change }),
    ).toEqual(pinnedTo(3, null));
    expect(pinOnSettlement({ kind: 'adopted', ...change })).toEqual(pinnedTo(3, change.changeBase));
  });
});

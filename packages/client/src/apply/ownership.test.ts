import { describe, expect, it } from 'vitest';
import { ownershipOf } from './apply-bundles.js';

const ours = 'a0000000-0000-4000-8000-000000000000';
const other = 'b0000000-0000-4000-8000-000000000000';
const inFlight = { sourceId: ours, sourceBundleId: 2 };

describe('ownershipOf', () => {
  it.each([
    [
      'our bundle in flight with our digest',
      { sourceId: ours, sourceBundleId: 2, digest: 'd1' },
      inFlight,
      'd1',
      'ack',
    ],
    [
      'our bundle in flight from a server without digests',
      { sourceId: ours, sourceBundleId: 2 },
      inFlight,
      undefined,
      'ack',
    ],
    [
      'our id in upper case',
      { sourceId: ours.toUpperCase(), sourceBundleId: 2, digest: 'd1' },
      inFlight,
      'd1',
      'ack',
    ],
    [
      'our ids with another install’s changes',
      { sourceId: ours, sourceBundleId: 2, digest: 'd2' },
      inFlight,
      'd1',
      'foreign',
    ],
    [
      'another bundle id of our source',
      { sourceId: ours, sourceBundleId: 3, digest: 'd3' },
      null,
      undefined,
      'foreign',
    ],
    [
      'our source while nothing is in flight',
      { sourceId: ours, sourceBundleId: 1, digest: 'd3' },
      null,
      undefined,
      'foreign',
    ],
    [
      'our source without a digest, not in flight',
      { sourceId: ours, sourceBundleId: 3 },
      null,
      undefined,
      'peer',
    ],
    [
      'a peer’s bundle',
      { sourceId: other, sourceBundleId: 2, digest: 'd1' },
      null,
      undefined,
      'peer',
    ],
    ['a backend write', { sourceId: null, sourceBundleId: null }, null, undefined, 'peer'],
  ] as const)('%s is %s', (_name, bundle, frozen, digest, verdict) => {
    expect(ownershipOf(bundle, frozen, ours, digest)).toBe(verdict);
  });

  it('acknowledges a bundle left in flight under a source id since rotated away', () => {
    const old = { sourceId: other, sourceBundleId: 7 };
    expect(ownershipOf({ sourceId: other, sourceBundleId: 7, digest: 'd' }, old, ours, 'd')).toBe(
      'ack',
    );
  });
});

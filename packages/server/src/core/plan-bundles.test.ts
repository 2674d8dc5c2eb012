import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { decidePruneThrough } from './decide-retention.js';
import { fitsOnPage } from './page-bundles.js';
import { planBundles } from './plan-bundles.js';

const row = (owner: string) => ({ owner, row: { id: 'x', owner_id: owner } });

describe('planBundles', () => {
  it('gives each affected user one bundle at their next seq, upserts then deletes in relation order', () => {
    const plan = planBundles(
      [
        {
          table: 'todos',
          pk: 't1',
          current: undefined,
          previous: { owner: 'alice', rowVersion: 2, deleted: false },
        },
        { table: 'lists', pk: 'l1', current: row('alice'), previous: undefined },
        { table: 'lists', pk: 'l2', current: row('bob'), previous: undefined },
      ],
      (user) => (user === 'alice' ? 4 : 0),
      todoSchema.graph,
    );
    expect(
      plan.bundles.map((b) => [
        b.userId,
        b.bundleSeq,
        b.effects.map((e) => `${e.op} ${e.table} ${e.rowVersion}`),
      ]),
    ).toEqual([
      ['alice', 5, ['upsert lists 5', 'delete todos 5']],
      ['bob', 1, ['upsert lists 1']],
    ]);
    expect(plan.rowStates).toContainEqual({
      table: 'todos',
      pk: 't1',
      state: { owner: 'alice', rowVersion: 5, deleted: true },
    });
  });

  it('moves a row as a delete for the old owner and an upsert for the new, with a version above both', () => {
    const plan = planBundles(
      [
        {
          table: 'lists',
          pk: 'l1',
          current: row('bob'),
          previous: { owner: 'alice', rowVersion: 9, deleted: false },
        },
      ],
      (user) => (user === 'alice' ? 20 : 2),
      todoSchema.graph,
    );
    expect(
      plan.bundles.map((b) => [b.userId, b.bundleSeq, b.effects[0]!.op, b.effects[0]!.rowVersion]),
    ).toEqual([
      ['bob', 3, 'upsert', 21],
      ['alice', 21, 'delete', 21],
    ]);
  });

  it('drops a row created and removed in one transaction, but still gives the pusher a bundle', () => {
    const plan = planBundles(
      [{ table: 'lists', pk: 'l1', current: undefined, previous: undefined }],
      () => 0,
      todoSchema.graph,
      'alice',
    );
    expect(plan.bundles).toEqual([{ userId: 'alice', bundleSeq: 1, effects: [] }]);
    expect(plan.rowStates).toEqual([]);
  });
});

describe('fitsOnPage', () => {
  it('always takes the first bundle and then fills up to the limit', () => {
    expect(fitsOnPage({ bundles: 0, rows: 0 }, 900, 10)).toBe(true);
    expect(fitsOnPage({ bundles: 1, rows: 4 }, 6, 10)).toBe(true);
    expect(fitsOnPage({ bundles: 1, rows: 4 }, 7, 10)).toBe(false);
  });
});

describe('decidePruneThrough', () => {
  it.each([
    [{ lastSeq: 10, prunedThrough: 0, newestExpiredSeq: undefined }, {}, 0],
    [{ lastSeq: 10, prunedThrough: 0, newestExpiredSeq: undefined }, { maxBundlesPerUser: 3 }, 7],
    [{ lastSeq: 10, prunedThrough: 8, newestExpiredSeq: undefined }, { maxBundlesPerUser: 3 }, 8],
    [{ lastSeq: 10, prunedThrough: 0, newestExpiredSeq: 4 }, { maxAgeMs: 1 }, 4],
    [
      { lastSeq: 10, prunedThrough: 0, newestExpiredSeq: 4 },
      { maxAgeMs: 1, maxBundlesPerUser: 2 },
      8,
    ],
    [{ lastSeq: 2, prunedThrough: 0, newestExpiredSeq: 2 }, { maxAgeMs: 1 }, 2],
  ])('%o with %o prunes through %i', (state, policy, expected) => {
    expect(decidePruneThrough(state, policy)).toBe(expected);
  });
});

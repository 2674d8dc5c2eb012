import { describe, expect, it } from 'vitest';
import type { z } from 'zod';
import { isPlainChange, isPlainRowEffect, isPlainSnapshotRow } from './row-arrays.js';
import {
  ChangeSchema,
  PullResponseSchema,
  RowEffectSchema,
  SnapshotRowSchema,
  describeZodError,
} from './wire.js';

/** A seeded generator of wire values: valid ones, and ones broken in one place. */
function generator(seed: number) {
  let state = seed;
  const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const odd: unknown[] = [
    undefined,
    null,
    '',
    'x'.repeat(513),
    'x'.repeat(512),
    0,
    -1,
    1.5,
    2 ** 53,
    -(2 ** 53 - 1),
    NaN,
    true,
    [],
    {},
    [1],
    new Date(0),
    'upsert',
    'delete',
  ];
  const value = (): unknown => (random() < 0.7 ? pick(['a', 7, null, { n: 1 }, [2]]) : pick(odd));
  const row = () => ({ id: 'r1', title: value(), done: random() < 0.5 });
  const mutate = (base: Record<string, unknown>): unknown => {
    if (random() < 0.5) return base;
    const copy: Record<string, unknown> = { ...base };
    const key = pick([...Object.keys(base), 'extra', '__proto__']);
    if (key === '__proto__') return JSON.parse(`{"__proto__": 1, "op": "upsert"}`) as unknown;
    if (random() < 0.3) delete copy[key];
    else copy[key] = pick(odd);
    return random() < 0.05 ? pick(odd) : copy;
  };
  return {
    effect: () =>
      random() < 0.5
        ? mutate({
            table: 'todos',
            pk: pick(['k', 3]),
            op: 'upsert',
            rowVersion: 4,
            row: row(),
            ...(random() < 0.3 ? { tempKey: pick([-5, 'k2', 0.5]) } : {}),
          })
        : mutate({
            table: 'todos',
            pk: pick(['k', 3]),
            op: 'delete',
            rowVersion: pick([4, 0]),
            row: null,
          }),
    change: () =>
      random() < 0.5
        ? mutate({
            table: 'todos',
            pk: 'k',
            op: 'upsert',
            baseVersion: pick([null, 2]),
            row: row(),
            ...(random() < 0.2 ? { baseDeleted: pick<unknown>([true, false, 1]) } : {}),
            ...(random() < 0.2 ? { maybePushed: pick<unknown>([true, false, 'yes']) } : {}),
            ...(random() < 0.5
              ? {
                  columns: pick<unknown>([
                    [],
                    ['title'],
                    ['title', 'done'],
                    ['title', 'title'],
                    ['missing'],
                    [''],
                    [7],
                    'title',
                  ]),
                }
              : {}),
          })
        : mutate({ table: 'todos', pk: 'k', op: 'delete', baseVersion: pick([null, 2]) }),
    snapshotRow: () => mutate({ table: 'todos', pk: 9, rowVersion: 1, row: row() }),
  };
}

function expectSubsetOf(
  schema: z.ZodType,
  accepts: (value: unknown) => boolean,
  make: () => unknown,
  where: string,
) {
  let accepted = 0;
  for (let i = 0; i < 3_000; i++) {
    const value = make();
    if (!accepts(value)) continue;
    accepted++;
    const parsed = schema.safeParse(value);
    expect(parsed.success, `${where}, value ${i}: ${JSON.stringify(value)}`).toBe(true);
    expect(parsed.data, `${where}, value ${i}`).toEqual(value);
  }
  // The fast check is not vacuous: it takes the common shape.
  expect(accepted, where).toBeGreaterThan(300);
}

describe('the fast checks of row arrays', () => {
  const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
  const where = `seed ${seed} (SEED=${seed} replays)`;

  it('accept only what the schema accepts, and take it unchanged', () => {
    const make = generator(seed);
    expectSubsetOf(RowEffectSchema, isPlainRowEffect, make.effect, `row effects, ${where}`);
    expectSubsetOf(ChangeSchema, isPlainChange, make.change, `changes, ${where}`);
    expectSubsetOf(SnapshotRowSchema, isPlainSnapshotRow, make.snapshotRow, `snapshot, ${where}`);
  });

  it('leave the verdict and the error on an array to the schema, at the element’s index', () => {
    const make = generator(seed + 1);
    for (let round = 0; round < 200; round++) {
      const rows = Array.from({ length: 4 }, make.effect);
      const page = { bundles: [{ bundleSeq: 1, sourceId: null, sourceBundleId: null, rows }] };
      const parsed = PullResponseSchema.safeParse({ ...page, stableBundleSeq: 1, hasMore: false });
      const each = rows.map((r) => RowEffectSchema.safeParse(r));
      expect(parsed.success, where).toBe(each.every((r) => r.success));
      if (parsed.success) {
        expect(parsed.data.bundles[0]!.rows, where).toEqual(each.map((r) => r.data));
      } else {
        const first = each.findIndex((r) => !r.success);
        expect(describeZodError(parsed.error), where).toMatch(
          new RegExp(`^bundles\\.0\\.rows\\.${first}[.:]`),
        );
      }
    }
  });
});

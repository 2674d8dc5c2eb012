import { describe, expect, it } from 'vitest';
import { counterDelta, counterDeltas, rebasedCounter, withCountersRebased } from './counters.js';
import { clientWins, mergeFields } from './merge.js';
import { defineSchema } from './schema.js';

const items = defineSchema({
  tables: {
    items: {
      owner: 'o',
      columns: {
        id: { type: 'uuid' },
        o: { type: 'text' },
        name: { type: 'text' },
        stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
        weight: { type: 'real', merge: 'counter' },
      },
    },
  },
}).requireTable('items');

describe('counters', () => {
  it('pushes what a device added since its base, a null counting as 0', () => {
    expect(counterDelta(12, 10)).toBe(2);
    expect(counterDelta(7, 10)).toBe(-3);
    expect(counterDelta(null, 3)).toBe(-3);
    expect(counterDelta(4, null)).toBe(4);
  });

  it('lists deltas for the counters among the changed columns only', () => {
    const base = { id: 'x', name: 'a', stock: 10, weight: 1 };
    const row = { ...base, name: 'b', stock: 8, weight: 1.5 };
    expect(counterDeltas(items, row, base, ['name', 'stock'])).toEqual({ stock: -2 });
    expect(counterDeltas(items, row, base, ['name', 'stock', 'weight'])).toEqual({
      stock: -2,
      weight: 0.5,
    });
    expect(counterDeltas(items, row, base, ['name'])).toBeUndefined();
  });

  it('moves a device’s increments onto a newer server value', () => {
    expect(rebasedCounter(12, 10, 15)).toBe(17);
    expect(rebasedCounter(10, 10, 15)).toBe(15);
    const local = { id: 'x', name: 'mine', stock: 12, weight: null };
    expect(
      withCountersRebased(items, local, { ...local, stock: 10 }, { stock: 15, weight: 2 }),
    ).toEqual({
      ...local,
      stock: 17,
      weight: 2,
    });
    expect(withCountersRebased(items, local, null, { stock: 15 })).toBe(local);
  });

  it('adds both sides’ increments in a field-merge, and keeps the server’s value without a base', () => {
    const base = { id: 'x', o: 'u', name: 'a', stock: 10, weight: 1 };
    const merged = mergeFields(items, { ...base, name: 'local', stock: 12 }, base, {
      ...base,
      name: 'server',
      stock: 15,
      weight: 3,
    });
    expect(merged.row).toMatchObject({ name: 'server', stock: 17, weight: 3 });
    expect(merged.both).toEqual(['name', 'stock']);
    const noBase = mergeFields(items, { ...base, stock: 12 }, null, { ...base, stock: 15 });
    expect(noBase.row.stock).toBe(15);
  });

  it('keeps counters adding up under client-wins', () => {
    const base = { id: 'x', o: 'u', name: 'a', stock: 10, weight: 1 };
    const outcome = clientWins(
      { ...base, name: 'local', stock: 12 },
      base,
      { ...base, name: 'server', stock: 15 },
      { table: items, pk: 'x', attempts: 0, serverDeleted: false, serverVersion: 2 },
    );
    expect(outcome).toEqual({ kind: 'rebase', row: { ...base, name: 'local', stock: 17 } });
  });

  it('is declared on integer and real columns only, never the key or a reference', () => {
    const declare = (columns: Record<string, unknown>) => () =>
      defineSchema({
        tables: { t: { owner: 'o', columns: { o: { type: 'text' }, ...columns } as never } },
      });
    expect(declare({ id: { type: 'uuid' }, n: { type: 'text', merge: 'counter' } })).toThrow(
      /merge "counter" needs an integer or real column/,
    );
    expect(declare({ id: { type: 'integer', merge: 'counter' } })).toThrow(
      /the primary key cannot be a counter/,
    );
  });
});

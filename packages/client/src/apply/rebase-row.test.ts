import { describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { rebaseRow } from './rebase-row.js';

const schema = defineSchema({
  tables: {
    items: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        a: { type: 'text' },
        b: { type: 'text' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
});
const items = schema.requireTable('items');

describe('rebaseRow', () => {
  it('keeps the columns the local layer changed and takes the rest from the new base', () => {
    const previous = { id: 'x', owner_id: null, a: 'a0', b: 'b0', updated_at: null };
    const local = { ...previous, a: 'a-local' };
    const next = {
      id: 'x',
      owner_id: 'alice',
      a: 'a0',
      b: 'b-server',
      updated_at: '2026-01-01T00:00:00.000Z',
    };
    expect(rebaseRow(items, local, previous, next)).toEqual({
      id: 'x',
      owner_id: 'alice',
      a: 'a-local',
      b: 'b-server',
      updated_at: '2026-01-01T00:00:00.000Z',
    });
  });

  it('keeps every client column of a row re-created on top of a delete', () => {
    const local = { id: 'x', owner_id: null, a: 'new', b: null, updated_at: null };
    const next = { id: 'x', owner_id: 'alice', a: 'old', b: 'old', updated_at: 'T' };
    expect(rebaseRow(items, local, null, next)).toEqual({
      ...local,
      owner_id: 'alice',
      updated_at: 'T',
    });
  });

  it('moves what the local layer added to a counter onto the new base, keeping a peer’s increments', () => {
    const items = defineSchema({
      tables: {
        items: {
          owner: 'owner_id',
          columns: {
            id: { type: 'text' },
            owner_id: { type: 'text' },
            n: { type: 'integer', merge: 'counter' },
          },
        },
      },
    }).requireTable('items');
    const previous = { id: 'x', owner_id: 'alice', n: 10 };
    const next = { ...previous, n: 15 };
    expect(rebaseRow(items, { ...previous, n: 12 }, previous, next).n).toBe(17);
    expect(rebaseRow(items, { ...previous, n: 7 }, previous, next).n).toBe(12);
    expect(rebaseRow(items, previous, previous, next).n).toBe(15);
    // Without the row the change was made on, nothing is known of what was added.
    expect(rebaseRow(items, { ...previous, n: 12 }, null, next).n).toBe(12);
  });
});

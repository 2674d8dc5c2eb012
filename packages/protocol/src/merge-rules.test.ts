import { describe, expect, it } from 'vitest';
import { mergeFields } from './merge.js';
import { unionOfSets } from './merge-rules.js';
import { defineSchema } from './schema.js';

const players = defineSchema({
  tables: {
    players: {
      owner: 'o',
      columns: {
        id: { type: 'uuid' },
        o: { type: 'text' },
        best: { type: 'integer', merge: 'max' },
        fastest: { type: 'real', merge: 'min' },
        first_seen: { type: 'timestamp', merge: 'min' },
        tags: { type: 'json', merge: 'union' },
        edited_at: { type: 'timestamp' },
        note: { type: 'text', merge: { latest: 'edited_at' } },
      },
    },
  },
}).requireTable('players');

/** A field-merge of rows that both changed every column listed in `local` and `server`. */
function merged(
  base: Record<string, unknown>,
  local: Record<string, unknown>,
  server: Record<string, unknown>,
) {
  const result = mergeFields(players, { ...base, ...local }, base, { ...base, ...server });
  return { row: result.row, both: result.both, manual: result.manual };
}

describe('value merge rules of a field-merge', () => {
  it('keeps the larger of a max column and the smaller of a min column, a null losing either way', () => {
    const base = { best: 3, fastest: 9.5, first_seen: null };
    const { row, both, manual } = merged(
      base,
      { best: 7, fastest: 8.25, first_seen: '2026-01-02T00:00:00.000Z' },
      { best: 12, fastest: 8.5, first_seen: null },
    );
    expect(row).toMatchObject({ best: 12, fastest: 8.25, first_seen: '2026-01-02T00:00:00.000Z' });
    expect(both).toEqual(['best', 'fastest']);
    expect(manual).toEqual([]);
  });

  it('orders timestamps by time, not by their text', () => {
    const { row } = merged(
      { first_seen: '2026-01-03T00:00:00.000Z' },
      { first_seen: '2026-01-02T00:00:00.5Z' },
      { first_seen: '2026-01-02T00:00:00.500001Z' },
    );
    expect(row['first_seen']).toBe('2026-01-02T00:00:00.5Z');
  });

  it('merges a set three-way: both sides’ additions stay, a removal on either side stays', () => {
    expect(merged({ tags: ['a'] }, { tags: ['a', 'c'] }, { tags: ['a', 'b'] }).row['tags']).toEqual(
      ['a', 'b', 'c'],
    );
    expect(
      merged({ tags: ['a', 'b'] }, { tags: ['b'] }, { tags: ['a', 'b', 'c'] }).row['tags'],
    ).toEqual(['b', 'c']);
    // Elements are JSON values; without a base nothing counts as removed.
    expect(unionOfSets([{ k: 1 }, 2], [2, { k: 1 }, 3], null)).toEqual([2, { k: 1 }, 3]);
    expect(unionOfSets('not a set', ['x'], [])).toEqual(['x']);
  });

  it('takes the value of the side edited later by the named timestamp, the server on a tie', () => {
    const base = { note: 'n', edited_at: '2026-01-01T00:00:00Z' };
    const later = merged(
      base,
      { note: 'mine', edited_at: '2026-01-05T10:00:00+02:00' },
      { note: 'theirs', edited_at: '2026-01-05T07:59:59Z' },
    );
    expect(later.row['note']).toBe('mine');
    const tie = merged(
      base,
      { note: 'mine', edited_at: '2026-01-05T08:00:00Z' },
      { note: 'theirs', edited_at: '2026-01-05T10:00:00+02:00' },
    );
    expect(tie.row['note']).toBe('theirs');
  });
});

import { describe, expect, it } from 'vitest';
import { defineSchema, type TableDeclaration } from './schema.js';
import { schemaHistory } from './schema-history.js';
import { projectionBetween } from './schema-projection.js';

const notes1: TableDeclaration = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    title: { type: 'text', notNull: true, maxLength: 5 },
    stars: { type: 'integer', notNull: true, default: 1 },
    old: { type: 'text' },
  },
};
const { title, old: _old, ...kept } = notes1.columns;
const v1 = defineSchema({ version: 1, tables: { notes: notes1 } });
const v2 = defineSchema({
  version: 2,
  tables: {
    pages: {
      ...notes1,
      renamedFrom: 'notes',
      columns: {
        ...kept,
        heading: { ...title!, maxLength: 50, renamedFrom: 'title' },
        stars: { type: 'real', notNull: true, default: 1 },
        color: { type: 'text', notNull: true, default: 'blue' },
      },
    },
    tags: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } } },
  },
});
const history = schemaHistory(v1, v2);
const id = '6f1c0000-0000-4000-8000-000000000001';

describe('rows of one schema version in another', () => {
  it('forward: renames, drops what the newer version dropped, fills added columns only when asked', () => {
    const up = projectionBetween(history, 1, 2);
    const row = { id, owner_id: 'a', title: 'hi', stars: 3, old: 'x' };
    expect(up.row('notes', row, true)).toEqual({
      table: 'pages',
      row: { id, owner_id: 'a', heading: 'hi', stars: 3, color: 'blue' },
    });
    // A push writes only what its device knows.
    expect(up.row('notes', { id, title: 'hi' }, false)).toEqual({
      table: 'pages',
      row: { id, heading: 'hi' },
    });
    expect(up.table('notes')).toBe('pages');
    expect(up.column('notes', 'title')).toBe('heading');
    expect(up.column('notes', 'old')).toBeNull();
  });

  it('backward: undoes renames, leaves out what the older version lacks, and gives it defaults for what it cannot hold', () => {
    const down = projectionBetween(history, 2, 1);
    expect(
      down.row(
        'pages',
        { id, owner_id: 'a', heading: 'hello world', stars: 2.5, color: 'red' },
        true,
      ),
    ).toEqual({
      table: 'notes',
      // `title` was at most 5 long and `stars` an integer: the old version gets its defaults.
      row: { id, owner_id: 'a', title: '', stars: 1, old: null },
    });
    expect(down.row('pages', { id, owner_id: 'a', heading: 'ok', stars: 4 }, true)?.row).toEqual({
      id,
      owner_id: 'a',
      title: 'ok',
      stars: 4,
      old: null,
    });
    expect(down.row('tags', { id, owner_id: 'a' }, true)).toBeNull();
    expect(down.table('tags')).toBeNull();
    expect(down.column('pages', 'heading')).toBe('title');
    expect(down.column('pages', 'color')).toBeNull();
  });

  it('passes rows of the same version through unchanged', () => {
    const same = projectionBetween(history, 2, 2);
    const row = { id, heading: 'x' };
    expect(same.identity).toBe(true);
    expect(same.row('pages', row, true)).toEqual({ table: 'pages', row });
  });
});

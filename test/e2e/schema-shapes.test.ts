import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { rowsOf, serverRows, startHarness, type Harness } from '../support/ferry-harness.js';

/** Integer keys, json and timestamp values, a self-reference and an optional reference. */
const schema = defineSchema({
  tables: {
    folders: {
      owner: 'owner',
      columns: {
        id: { type: 'integer' },
        owner: { type: 'text' },
        parent_id: { type: 'integer', references: { table: 'folders', onDelete: 'cascade' } },
        name: { type: 'text', notNull: true },
        meta: { type: 'json' },
      },
    },
    notes: {
      owner: 'owner',
      primaryKey: 'key',
      columns: {
        key: { type: 'text' },
        owner: { type: 'text' },
        folder_id: { type: 'integer', references: { table: 'folders', onDelete: 'set null' } },
        pinned: { type: 'boolean', notNull: true, default: false },
        due: { type: 'timestamp' },
        tags: { type: 'json' },
      },
    },
  },
});

describe('a schema with integer keys, json values and a self-reference', () => {
  let h: Harness<typeof schema>;
  beforeEach(async () => {
    h = await startHarness({ schema });
  });
  afterEach(async () => {
    await h.close();
  });

  it('syncs between two devices, cascades and set-null included', async () => {
    const a = await h.client('a');
    const b = await h.client('b');
    await a.write((tx) => {
      tx.insert('folders', { id: 1, name: 'root', meta: { color: 'red', n: [1, 2] } });
      tx.insert('folders', { id: 2, parent_id: 1, name: 'child' });
      tx.insert('folders', { id: 3, parent_id: 2, name: 'grandchild' });
      tx.insert('notes', {
        key: 'n-1',
        folder_id: 3,
        pinned: true,
        due: '2026-11-21T10:00:00Z',
        tags: ['a'],
      });
    });
    await a.sync();
    await b.sync();
    expect(await b.getRow('notes', 'n-1')).toEqual({
      key: 'n-1',
      owner: 'alice',
      folder_id: 3,
      pinned: true,
      due: '2026-11-21T10:00:00.000Z',
      tags: ['a'],
    });
    expect((await b.getRow('folders', 1))?.meta).toEqual({ color: 'red', n: [1, 2] });
    // Deleting the root cascades down the folders and sets the note's folder to null, on both.
    await b.write((tx) => tx.delete('folders', 1));
    await b.sync();
    await a.sync();
    for (const client of [a, b]) {
      expect(await rowsOf(client, 'folders')).toEqual([]);
      expect(await client.getRow('notes', 'n-1')).toMatchObject({ folder_id: null, pinned: true });
      expect(await rowsOf(client, 'notes')).toEqual(await serverRows(h, 'alice', 'notes'));
      expect(await client.readStatus()).toMatchObject({ pending: 0, inFlight: null });
    }
  });
});

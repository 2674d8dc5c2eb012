import { describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import type { FrozenChange, PendingEntry } from '../local/metadata.js';
import { UNPINNED } from '../local/pending-pin.js';
import { decideSettledRow } from './settled-row.js';

const items = defineSchema({
  tables: {
    items: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        name: { type: 'text' },
        stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
      },
    },
  },
}).requireTable('items');

const change: FrozenChange = {
  ord: 0,
  tbl: 'items',
  pk: 'x',
  letter: 'U',
  op: 'upsert',
  baseVersion: 3,
  base: { id: 'x', owner_id: 'alice', name: 'pen', stock: 10 },
  row: { id: 'x', owner_id: 'alice', name: 'pen', stock: 12 },
  firstGroup: 1,
  lastGroup: 1,
  firstAt: 0,
  conflicts: 0,
};
const pending: PendingEntry = {
  tbl: 'items',
  pk: 'x',
  op: 'U',
  firstGroup: 2,
  lastGroup: 2,
  firstAt: 0,
  ...UNPINNED,
};
const current = { id: 'x', owner_id: 'alice', name: 'pen', stock: 13 };

describe('decideSettledRow', () => {
  it('rebases an edit stacked on our committed upsert onto the row as it committed, counters adding up', () => {
    const committed = { id: 'x', owner_id: 'alice', name: 'ink', stock: 17 };
    const settled = decideSettledRow(
      items,
      change,
      { serverState: { version: 6, deleted: false, base: committed }, pending, current },
      { kind: 'ack' },
    );
    expect(settled.localRow).toEqual({ kind: 'write', row: { ...committed, stock: 18 } });
    expect(settled.pending).toMatchObject({ op: 'U', pinned: false });
  });

  it('pins an edit stacked on an upsert that committed but left the row deleted to no base, so it meets the delete as a conflict', () => {
    const settled = decideSettledRow(
      items,
      change,
      { serverState: { version: 6, deleted: true, base: null }, pending, current },
      { kind: 'ack' },
    );
    expect(settled.localRow).toEqual({ kind: 'keep' });
    expect(settled.pending).toMatchObject({
      op: 'U',
      pinned: true,
      pinVersion: null,
      pinBase: null,
    });
  });

  it('pins an edit stacked on a change acknowledged late to our commit, whatever the file learned since', () => {
    const settled = decideSettledRow(
      items,
      change,
      { serverState: { version: 9, deleted: true, base: null }, pending, current },
      {
        kind: 'late-ack',
        ours: { version: 6, base: { ...current, stock: 17 } },
        changeBaseVersion: 3,
        changeBase: change.base,
      },
    );
    expect(settled.pending).toMatchObject({ pinned: true, pinVersion: 6 });
  });

  it('keeps the counters of an edit pinned to an older base at that base plus what the edit added, so a peer’s increments do not go out again', () => {
    // Our change pushed 10 → 12; the edit stacked on it added 1 (13). The file's state is v9
    // (stock 20: a peer's increments since); the edit is pinned to our commit, v6 with 17.
    const settled = decideSettledRow(
      items,
      change,
      {
        serverState: { version: 9, deleted: false, base: { ...current, name: 'ink', stock: 20 } },
        pending,
        current,
      },
      {
        kind: 'late-ack',
        ours: { version: 6, base: { ...current, stock: 17 } },
        changeBaseVersion: 3,
        changeBase: change.base,
      },
    );
    expect(settled.pending).toMatchObject({ pinned: true, pinVersion: 6 });
    expect(settled.localRow).toEqual({
      kind: 'write',
      row: { ...current, name: 'ink', stock: 18 },
    });
  });

  it('leaves a stacked delete, and our own delete, to settle as before', () => {
    const stackedDelete = decideSettledRow(
      items,
      change,
      {
        serverState: { version: 6, deleted: true, base: null },
        pending: { ...pending, op: 'D' },
        current: null,
      },
      { kind: 'ack' },
    );
    expect(stackedDelete.pending).toMatchObject({ op: 'D', pinned: false });
    const ownDelete = decideSettledRow(
      items,
      { ...change, op: 'delete', row: null },
      {
        serverState: { version: 6, deleted: true, base: null },
        pending: { ...pending, op: 'I' },
        current,
      },
      { kind: 'ack' },
    );
    expect(ownDelete.pending).toMatchObject({ op: 'I', pinned: false });
  });
});

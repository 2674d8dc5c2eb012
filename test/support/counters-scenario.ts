/**
 * Counters, sets and an append-only table end to end over HTTP: devices that increment the same
 * counter offline, while a push is in flight and across conflicts on other columns all end with
 * the server's value, which is the first value plus every increment. Run on both stores
 * (test/e2e/counters.test.ts, test/e2e-pg/counters.pg.test.ts).
 */
import { expect } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import type { FerryClient } from '@ferry/client';
import { rowsOf, serverRows, uuid, type Harness } from './ferry-harness.js';

export const shopSchema = defineSchema({
  tables: {
    items: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true },
        stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
        tags: { type: 'json', notNull: true, default: [], merge: 'union' },
      },
    },
    events: {
      owner: 'owner_id',
      appendOnly: true,
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        item_id: { type: 'uuid', references: { table: 'items', onDelete: 'cascade' } },
        what: { type: 'text', notNull: true },
      },
    },
  },
});
export type ShopSchema = typeof shopSchema;
type Client = FerryClient<ShopSchema>;

const add = (client: Client, id: string, n: number) =>
  client.execute('UPDATE items SET stock = stock + ? WHERE id = ?', [n, id]);

/** The scenario; `h` serves {@link shopSchema}. */
export async function countersConverge(h: Harness<ShopSchema>): Promise<void> {
  const id = uuid();
  let added = 0;
  // a adds 10 locally while its push is in flight, after the server committed it.
  let inFlight: (() => Promise<unknown>) | undefined;
  const a: Client = await h.client('a', 'alice', {
    hooks: {
      async at(point) {
        if (point !== 'after-server-commit-before-response' || !inFlight) return;
        const run = inFlight;
        inFlight = undefined;
        await run();
      },
    },
  });
  const b = await h.client('b');
  const c = await h.client('c');
  await a.write((tx) => tx.insert('items', { id, name: 'pen', stock: 5, tags: ['new'] }));
  await a.sync();
  await b.sync();
  await c.sync();

  // Offline, each device adds and removes stock many times, in SQL and through the write API.
  for (let round = 0; round < 3; round++) {
    for (const [client, n] of [
      [a, 3],
      [b, -2],
      [c, 7],
    ] as const) {
      await add(client, id, n);
      const [row] = await client.query<{ stock: number }>('SELECT stock FROM items WHERE id = ?', [
        id,
      ]);
      await client.write((tx) => tx.update('items', id, { stock: row!.stock + 1 }));
      added += n + 1;
    }
  }
  // b also renames the item and tags it, c tags it too: a conflict on other columns, merged.
  await b.write((tx) => tx.update('items', id, { name: 'blue pen', tags: ['new', 'blue'] }));
  await c.write((tx) => tx.update('items', id, { tags: ['new', 'sale'] }));

  await c.sync();
  await b.sync();
  inFlight = async () => {
    await add(a, id, 10);
  };
  added += 10;
  await a.sync();
  expect(inFlight).toBeUndefined();
  for (let i = 0; i < 2; i++) for (const client of [a, b, c]) await client.sync();

  const [server] = await serverRows(h, 'alice', 'items');
  expect(server).toMatchObject({ name: 'blue pen', stock: 5 + added });
  expect([...(server!.tags as string[])].sort()).toEqual(['blue', 'new', 'sale']);
  for (const client of [a, b, c]) {
    expect(await rowsOf(client, 'items')).toEqual(await serverRows(h, 'alice', 'items'));
    expect(await client.readStatus()).toMatchObject({ pending: 0, inFlight: null });
    expect(await client.conflicts()).toEqual([]);
  }
}

/** Append-only rows: inserted and deleted by devices, an update refused at the write. */
export async function appendOnlyRows(h: Harness<ShopSchema>): Promise<void> {
  const a = await h.client('log-a');
  const b = await h.client('log-b');
  const item = uuid();
  const first = uuid();
  const second = uuid();
  await a.write((tx) => {
    tx.insert('items', { id: item, name: 'pen' });
    tx.insert('events', { id: first, item_id: item, what: 'created' });
  });
  await b.write((tx) => tx.insert('events', { id: second, item_id: null, what: 'opened' }));
  await a.sync();
  await b.sync();
  await expect(a.write((tx) => tx.update('events', first, { what: 'edited' }))).rejects.toThrow(
    /append_only/,
  );
  await b.write((tx) => tx.delete('events', first));
  await b.sync();
  await a.sync();
  expect(await serverRows(h, 'alice', 'events')).toMatchObject([{ id: second, what: 'opened' }]);
  for (const client of [a, b]) {
    expect(await rowsOf(client, 'events')).toEqual(await serverRows(h, 'alice', 'events'));
    expect(await client.deadLetters()).toEqual([]);
  }
}

/** A manual conflict settled with the local row: its counters still add up. */
export async function manualClientKeepsIncrements(h: Harness<ShopSchema>): Promise<void> {
  const a = await h.client('manual-a');
  const b = await h.client('manual-b', 'alice', { resolvers: { items: 'manual' } });
  const id = uuid();
  await a.write((tx) => tx.insert('items', { id, name: 'pen', stock: 10 }));
  await a.sync();
  await b.sync();
  await a.write((tx) => tx.update('items', id, { name: 'ink' }));
  await add(a, id, 4);
  await a.sync();
  await b.write((tx) => tx.update('items', id, { name: 'pencil' }));
  await add(b, id, -3);
  await b.sync();
  const [conflict] = await b.conflicts();
  expect(conflict).toMatchObject({ pk: id });
  await b.resolveConflict(conflict!.id, 'client');
  await b.sync();
  await a.sync();
  const [server] = await serverRows(h, 'alice', 'items');
  expect(server).toMatchObject({ name: 'pencil', stock: 11 });
  for (const client of [a, b]) {
    expect(await rowsOf(client, 'items')).toEqual(await serverRows(h, 'alice', 'items'));
  }
}

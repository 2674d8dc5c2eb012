/* Counters and append-only tables on the server, shared by the SQLite
 * (ferry-server.field-policies.test.ts) and PostgreSQL (ferry-server.field-policies.pg.test.ts)
 * runs; every request goes over real HTTP on 127.0.0.1. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema, type Change } from '@ferry/protocol';
import { pushBody, startTestServer, type TestServer, type TestStoreKind } from './harness.js';
import { pullAll, pushOk } from './sync-rules-suite.js';

/** A shop: items with counters, and an append-only log of what happened to them. */
export const shopSchema = defineSchema({
  tables: {
    items: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        name: { type: 'text', notNull: true },
        stock: { type: 'integer', notNull: true, default: 0, merge: 'counter' },
        weight: { type: 'real', merge: 'counter' },
        added_at: { type: 'timestamp', serverDerived: 'insertTime' },
      },
    },
    events: {
      owner: 'owner_id',
      appendOnly: true,
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        what: { type: 'text', notNull: true },
      },
    },
  },
});

const ALICE = 'alice';

function item(id: string, baseVersion: number | null, row: Record<string, unknown>, extra = {}) {
  return { table: 'items', pk: id, op: 'upsert', baseVersion, row, ...extra } as Change;
}

/** Registers the suite for one store. */
export function describeFieldPolicies(store: TestStoreKind): void {
  let current: TestServer | undefined;
  const server = async () => {
    current = await startTestServer({ http: true, store, schema: shopSchema });
    return current;
  };
  const push = (t: TestServer, json: unknown) =>
    t.request('/v1/push', { method: 'POST', user: ALICE, json });

  describe(`counters and append-only tables (${store})`, () => {
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });

    it('adds every device’s delta to the current value, even over a newer version, and leaves the other columns alone', async () => {
      const t = await server();
      const id = randomUUID();
      const [a, b, c] = [randomUUID(), randomUUID(), randomUUID()];
      await pushOk(
        t,
        ALICE,
        pushBody(a, 1, [item(id, null, { name: 'pen', stock: 10, weight: 1.5 })]),
      );
      // b and c both made their change on version 1; a renamed the item meanwhile.
      await pushOk(
        t,
        ALICE,
        pushBody(a, 2, [item(id, 1, { name: 'blue pen' }, { columns: ['name'] })]),
      );
      const fromB = item(
        id,
        1,
        { name: 'pen', stock: 7, weight: 1.5 },
        {
          columns: ['stock'],
          deltas: { stock: -3 },
        },
      );
      const fromC = item(
        id,
        1,
        { name: 'pen', stock: 15, weight: 2 },
        {
          columns: ['stock', 'weight'],
          deltas: { stock: 5, weight: 0.5 },
        },
      );
      await pushOk(t, ALICE, pushBody(b, 1, [fromB]));
      const last = await pushOk(t, ALICE, pushBody(c, 1, [fromC]));
      expect(last.body.rows?.[0]?.row).toMatchObject({ name: 'blue pen', stock: 12, weight: 2 });
      const bundles = await pullAll(t, ALICE);
      expect(bundles.map((x) => x.rows[0]!.row)).toMatchObject([
        { stock: 10 },
        { name: 'blue pen', stock: 10 },
        { name: 'blue pen', stock: 7 },
        { name: 'blue pen', stock: 12, weight: 2 },
      ]);
      // A replay adds nothing twice.
      expect((await pushOk(t, ALICE, pushBody(c, 1, [fromC]))).text).toBe(last.text);
      expect((await pullAll(t, ALICE)).length).toBe(4);
    });

    it('still conflicts when a change over an older version also writes a column that is not a counter', async () => {
      const t = await server();
      const id = randomUUID();
      const a = randomUUID();
      await pushOk(t, ALICE, pushBody(a, 1, [item(id, null, { name: 'pen', stock: 10 })]));
      await pushOk(t, ALICE, pushBody(a, 2, [item(id, 1, { name: 'ink' }, { columns: ['name'] })]));
      const response = await push(
        t,
        pushBody(randomUUID(), 1, [
          item(
            id,
            1,
            { name: 'pencil', stock: 11 },
            { columns: ['name', 'stock'], deltas: { stock: 1 } },
          ),
        ]),
      );
      expect(response.status).toBe(409);
      expect(await response.json()).toMatchObject({
        error: { code: 'conflict' },
        conflicts: [{ index: 0, baseVersion: 1, serverVersion: 2 }],
      });
    });

    it('refuses deltas that cannot hold: on a column that is not a counter, a fraction for an integer, outside columns', async () => {
      const t = await server();
      const id = randomUUID();
      await pushOk(t, ALICE, pushBody(randomUUID(), 1, [item(id, null, { name: 'pen' })]));
      const invalid = await push(
        t,
        pushBody(randomUUID(), 1, [
          item(
            id,
            1,
            { name: 'pen', stock: 2 },
            { columns: ['name', 'stock'], deltas: { name: 1, stock: 1.5 } },
          ),
        ]),
      );
      expect(invalid.status).toBe(422);
      expect(await invalid.json()).toMatchObject({
        error: {
          code: 'validation_failed',
          details: {
            errors: [
              { code: 'type_mismatch', column: 'name' },
              { code: 'type_mismatch', column: 'stock' },
            ],
          },
        },
      });
      const stray = await push(
        t,
        pushBody(randomUUID(), 1, [
          item(id, 1, { stock: 2 }, { columns: ['name'], deltas: { stock: 2 } }),
        ]),
      );
      expect(stray.status).toBe(400);
      expect(await stray.json()).toMatchObject({ error: { code: 'bad_request' } });
    });

    it('never lets a client write a server-derived column, whatever its row or columns say', async () => {
      const t = await server();
      const id = randomUUID();
      const source = randomUUID();
      const first = await pushOk(
        t,
        ALICE,
        pushBody(source, 1, [item(id, null, { name: 'pen', added_at: '2000-01-01T00:00:00Z' })]),
      );
      const addedAt = first.body.rows?.[0]?.row?.['added_at'];
      expect(addedAt).not.toBe('2000-01-01T00:00:00.000Z');
      expect(typeof addedAt).toBe('string');
      const second = await pushOk(
        t,
        ALICE,
        pushBody(source, 2, [
          item(
            id,
            1,
            { name: 'ink', added_at: '2000-01-01T00:00:00Z' },
            { columns: ['name', 'added_at'] },
          ),
        ]),
      );
      expect(second.body.rows?.[0]?.row).toMatchObject({ name: 'ink', added_at: addedAt });
    });

    it('takes inserts and deletes of an append-only table, a delete over any version, and refuses an update with append_only', async () => {
      const t = await server();
      const id = randomUUID();
      const source = randomUUID();
      const event: Change = {
        table: 'events',
        pk: id,
        op: 'upsert',
        baseVersion: null,
        row: { what: 'sold' },
      };
      await pushOk(t, ALICE, pushBody(source, 1, [event]));
      const update = await push(
        t,
        pushBody(source, 2, [
          { ...event, baseVersion: 1, row: { what: 'returned' }, columns: ['what'] },
        ]),
      );
      expect(update.status).toBe(422);
      expect(await update.json()).toMatchObject({
        error: {
          code: 'validation_failed',
          details: { errors: [{ code: 'append_only', index: 0 }] },
        },
      });
      // Backend code may change the row; a device's delete made on the first version still goes.
      await t.server.write(ALICE, (tx) => tx.upsert('events', { id, what: 'sold twice' }));
      await pushOk(
        t,
        ALICE,
        pushBody(source, 2, [{ table: 'events', pk: id, op: 'delete', baseVersion: 1 }]),
      );
      const bundles = await pullAll(t, ALICE);
      expect(bundles.at(-1)!.rows).toMatchObject([{ table: 'events', pk: id, op: 'delete' }]);
    });
  });
}

/* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest asymmetric matchers are typed any */
/* The schema-migration suite of the server, shared by the SQLite (ferry-server.migrations.test.ts)
 * and PostgreSQL (ferry-server.migrations.pg.test.ts) runs; requests go over real HTTP. */
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema, schemaHistory, type Change } from '@ferry/protocol';
import { todoHistory, todoSchema, todoV2, todoV3 } from '@ferry/example-todo';
import { pushBody, startTestServer, type TestServer, type TestStoreKind } from './harness.js';
import { pullAll, pushOk, snapshotLines } from './sync-rules-suite.js';

const ALICE = 'alice';

/** Todos with the positions the v5 backfill reads, pushed by a v1 device. */
function v1Data() {
  const list = randomUUID();
  const ids = { whole: randomUUID(), half: randomUUID(), none: randomUUID(), zero: randomUUID() };
  const todo = (id: string, title: string, position: number | null): Change => ({
    table: 'todos',
    pk: id,
    op: 'upsert',
    baseVersion: null,
    row: { id, list_id: list, title, done: false, position },
  });
  const changes: Change[] = [
    { table: 'lists', pk: list, op: 'upsert', baseVersion: null, row: { id: list, name: 'L' } },
    todo(ids.whole, 'three', 3),
    todo(ids.half, 'forty-two and a half', 42.5),
    todo(ids.none, 'unplaced', null),
    todo(ids.zero, 'first', 0),
  ];
  return { list, ids, changes };
}

/** Registers the suite for one store. */
export function describeServerMigrations(store: TestStoreKind): void {
  let current: TestServer | undefined;
  afterEach(async () => {
    await current?.close();
    current = undefined;
  });

  describe(`schema migrations (${store})`, () => {
    it('migrates a database from version 1 to 5 on start, once, and sends the backfill as a bundle with no source', async () => {
      let t = (current = await startTestServer({ http: true, store, schema: todoSchema }));
      const { list, ids, changes } = v1Data();
      await pushOk(t, ALICE, pushBody(randomUUID(), 1, changes));
      t = current = await t.restart({ schema: todoHistory });

      const bundles = await pullAll(t, ALICE);
      expect(bundles).toHaveLength(2);
      const backfill = bundles[1]!;
      expect(backfill).toMatchObject({ bundleSeq: 2, sourceId: null });
      // Only the todos the backfill changed, in version 5's shape: `text`, no `position`.
      expect(backfill.rows.map((r) => r.pk).sort()).toEqual([ids.half, ids.whole].sort());
      expect(backfill.rows.find((r) => r.pk === ids.half)?.row).toEqual(
        expect.objectContaining({ text: 'forty-two and a half', priority: 42, done: false }),
      );
      expect(backfill.rows[0]!.row).not.toHaveProperty('position');
      expect(backfill.rows[0]!.row).not.toHaveProperty('title');

      const rows = (await snapshotLines(t, ALICE)).filter((l) => l['table'] === 'todos');
      const byId = new Map(rows.map((l) => [l['pk'], l['row'] as Record<string, unknown>]));
      expect(byId.get(ids.whole)).toMatchObject({ text: 'three', priority: 3 });
      expect(byId.get(ids.none)).toMatchObject({ text: 'unplaced', priority: 0 });
      expect(byId.get(ids.zero)).toMatchObject({ text: 'first', priority: 0 });

      // The new table and column take writes of a version 5 device.
      const tag = randomUUID();
      await pushOk(
        t,
        ALICE,
        pushBody(randomUUID(), 1, [
          {
            table: 'tags',
            pk: tag,
            op: 'upsert',
            baseVersion: null,
            row: { id: tag, list_id: list, label: 'home' },
          },
          {
            table: 'todos',
            pk: ids.none,
            op: 'upsert',
            baseVersion: 1,
            row: { id: ids.none, list_id: list, text: 'placed', priority: 9 },
            columns: ['text', 'priority'],
          },
        ]),
      );
      // A second start finds the database current: no migration, no bundle.
      t = current = await t.restart({ schema: todoHistory });
      expect(await pullAll(t, ALICE)).toHaveLength(3);
    });

    it('answers the replay of a push committed before a migration in the shape it committed in, before and after its bundle is pruned', async () => {
      let t = (current = await startTestServer({ http: true, store, schema: todoSchema }));
      const { ids, changes } = v1Data();
      const source = randomUUID();
      // A device of version 1 (a request without a version says 1).
      const pushV1 = async (body: unknown) => {
        const response = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: body,
          headers: { 'x-ferry-schema': '' },
        });
        expect(response.status).toBe(200);
        return response.text();
      };
      const first = await pushV1(pushBody(source, 1, changes));
      t = current = await t.restart({
        schema: todoHistory,
        retention: { maxBundlesPerUser: 1, intervalMs: 0 },
      });
      // It never got the answer, and sends the bundle again to the migrated server: the same
      // answer, in version 1's names (`title`, `position`), not the newest (`text`).
      expect(await pushV1(pushBody(source, 1, changes))).toBe(first);
      const row = (
        JSON.parse(first) as { rows: { pk: string; row: Record<string, unknown> }[] }
      ).rows.find((r) => r.pk === ids.half)!.row;
      expect(row).toMatchObject({ title: 'forty-two and a half', position: 42.5 });
      // Pruned: the answer kept for replays says its version too.
      await pushOk(t, ALICE, pushBody(randomUUID(), 1, [v1Data().changes[0]!]));
      await pushOk(t, ALICE, pushBody(randomUUID(), 1, [v1Data().changes[0]!]));
      expect(await t.server.prune()).toMatchObject({ bundlesDeleted: expect.any(Number) });
      expect(await pushV1(pushBody(source, 1, changes))).toBe(first);
    });

    it('migrates one version at a time across several starts to the same end', async () => {
      let t = (current = await startTestServer({ http: true, store, schema: todoSchema }));
      const { ids, changes } = v1Data();
      await pushOk(t, ALICE, pushBody(randomUUID(), 1, changes));
      t = current = await t.restart({ schema: schemaHistory(todoSchema, todoV2) });
      t = current = await t.restart({ schema: schemaHistory(todoSchema, todoV2, todoV3) });
      t = current = await t.restart({ schema: todoHistory });
      const rows = (await snapshotLines(t, ALICE)).filter((l) => l['table'] === 'todos');
      expect(rows.find((l) => l['pk'] === ids.half)?.['row']).toMatchObject({
        text: 'forty-two and a half',
        priority: 42,
      });
    });

    it('answers a client older than the oldest version it serves with 426 schema_too_old, committing nothing', async () => {
      const t = (current = await startTestServer({
        http: true,
        store,
        schema: todoHistory,
        oldestSchemaVersion: 3,
      }));
      const before = await t.dumpState();
      for (const version of [null, '1', '2']) {
        const response = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          headers: { 'x-ferry-schema': version ?? '' },
          json: pushBody(randomUUID(), 1, v1Data().changes),
        });
        expect(response.status).toBe(426);
        expect(await response.json()).toMatchObject({
          error: {
            code: 'schema_too_old',
            details: { clientVersion: Number(version ?? 1), oldestVersion: 3, serverVersion: 5 },
          },
        });
      }
      expect(await t.dumpState()).toBe(before);
      const served = await t.request('/v1/pull?after=0', {
        user: ALICE,
        headers: { 'x-ferry-schema': '3' },
      });
      expect(served.status).toBe(200);
    });

    it('refuses to start on a database that is ahead of its code, and on another app’s', async () => {
      let t = (current = await startTestServer({ http: true, store, schema: todoSchema }));
      t = current = await t.restart({ schema: todoHistory });
      await current.server.close();
      current = undefined;
      await expect(t.restart({ schema: schemaHistory(todoSchema, todoV2) })).rejects.toMatchObject({
        code: 'invalid_schema',
        message: expect.stringMatching(
          /holds schema version 5.*knows versions up to 2.*ahead of its code/,
        ),
      });
      const otherApp = defineSchema({
        version: 9,
        tables: {
          notes: {
            owner: 'owner_id',
            columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } },
          },
        },
      });
      await expect(t.restart({ schema: otherApp })).rejects.toMatchObject({
        code: 'invalid_schema',
        message: expect.stringMatching(/no version of this server's history/),
      });
      // The data is untouched: the right code still starts on it.
      current = await t.restart({ schema: todoHistory });
    });
  });
}

/* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest asymmetric matchers are typed any */
/* The sync-rules suite (idempotency, conflicts, isolation, cascade, pull paging, snapshot),
 * shared by the SQLite (ferry-server.sync.test.ts) and PostgreSQL (ferry-server.sync.pg.test.ts)
 * runs; every request goes over real HTTP on 127.0.0.1 unless a case says otherwise. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterEach, describe, expect, it } from 'vitest';
import {
  PullResponseSchema,
  bundleDigest,
  PushResponseSchema,
  SnapshotLineSchema,
  SyncResponseSchema,
  committedPushRows,
  type Bundle,
  type Change,
  type PushResult,
} from '@ferry/protocol';

type CommittedPush = Extract<PushResult, { status: 'committed' }>;
import {
  TEST_SECRET,
  pushBody,
  startTestServer,
  todo,
  type TestServer,
  type TestStoreKind,
} from './harness.js';

const ALICE = 'alice';
const BOB = 'bob';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function pushOk(t: TestServer, user: string, body: unknown) {
  const response = await t.request('/v1/push', { method: 'POST', user, json: body });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return { text, body: PushResponseSchema.parse(JSON.parse(text)) };
}

export async function pullAll(t: TestServer, user: string, limit = 1000) {
  const bundles: Bundle[] = [];
  let after = 0;
  for (;;) {
    const response = await t.request(`/v1/pull?after=${after}&limit=${limit}`, { user });
    expect(response.status).toBe(200);
    const page = PullResponseSchema.parse(await response.json());
    bundles.push(...page.bundles);
    after = page.bundles.at(-1)?.bundleSeq ?? after;
    if (!page.hasMore) return bundles;
  }
}

export async function snapshotLines(t: TestServer, user: string, query = '') {
  const response = await t.request(`/v1/snapshot${query}`, { user });
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('application/x-ndjson');
  return (await response.text())
    .trim()
    .split('\n')
    .map((line) => SnapshotLineSchema.parse(JSON.parse(line)) as Record<string, unknown>);
}

/** Registers the suite for one store. */
export function describeSyncRules(store: TestStoreKind): void {
  let current: TestServer | undefined;
  const server = async (options: Parameters<typeof startTestServer>[0] = {}) => {
    current = await startTestServer({ http: true, store, ...options });
    return current;
  };
  describe(`sync rules (${store})`, () => {
    afterEach(async () => {
      await current?.close();
      current = undefined;
    });
    describe('idempotency', () => {
      it('returns the same bundleSeq and rows for the same push twice, three times and after a restart, committing once', async () => {
        let t = await server();
        const source = randomUUID();
        const list = todo.list();
        const body = pushBody(source, 1, [list, todo.item(list.pk as string)]);
        const first = await pushOk(t, ALICE, body);
        const second = await pushOk(t, ALICE, body);
        const third = await pushOk(t, ALICE, body);
        expect(second.text).toBe(first.text);
        expect(third.text).toBe(first.text);
        t = current = await t.restart();
        const fourth = await pushOk(t, ALICE, body);
        expect(fourth.text).toBe(first.text);
        const bundles = await pullAll(t, ALICE);
        expect(bundles.map((b) => b.bundleSeq)).toEqual([1]);
        // After the replay the next id commits; a gap and a stale id are refused.
        expect((await pushOk(t, ALICE, pushBody(source, 2, []))).body.bundleSeq).toBe(2);
        const gap = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 4, []),
        });
        expect(gap.status).toBe(409);
        expect(await gap.json()).toMatchObject({
          error: { code: 'bundle_gap', details: { lastCommitted: 2 } },
        });
        const stale = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 1, []),
        });
        expect(stale.status).toBe(409);
        expect(await stale.json()).toMatchObject({
          error: { code: 'stale_bundle', details: { lastCommitted: 2 } },
        });
      });
    });

    describe('column-level writes', () => {
      it('writes only the columns an upsert names to a row the server has, and the whole row to a new one', async () => {
        const t = await server();
        const source = randomUUID();
        const list = todo.list();
        const item = todo.item(list.pk as string);
        const id = item.pk as string;
        const first = await pushOk(
          t,
          ALICE,
          pushBody(source, 1, [
            list,
            {
              table: 'todos',
              pk: id,
              op: 'upsert',
              baseVersion: null,
              row: { id, list_id: list.pk, title: 'milk', position: 42.5 },
            },
          ]),
        );
        expect(first.body.rows.find((r) => r.pk === id)?.row).toMatchObject({
          done: false,
          position: 42.5,
        });
        // A device from before `position`: its row lacks the column, which keeps its value.
        const second = await pushOk(
          t,
          ALICE,
          pushBody(source, 2, [
            {
              table: 'todos',
              pk: id,
              op: 'upsert',
              baseVersion: 1,
              row: { id, list_id: list.pk, title: 'milk', done: true },
            },
          ]),
        );
        expect(second.body.rows[0]?.row).toMatchObject({
          done: true,
          position: 42.5,
          title: 'milk',
        });
        // `columns` limits the write to the named columns; the rest of the row is not written.
        const third = await pushOk(
          t,
          ALICE,
          pushBody(source, 3, [
            {
              table: 'todos',
              pk: id,
              op: 'upsert',
              baseVersion: 2,
              row: { id, list_id: list.pk, title: 'stale', done: false, position: 3 },
              columns: ['position'],
            },
          ]),
        );
        expect(third.body.rows[0]?.row).toMatchObject({ done: true, position: 3, title: 'milk' });
        expect(third.body.rows[0]?.rowVersion).toBe(3);
        // A column list that names a column the row does not carry is a malformed change.
        const bad = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 4, [
            {
              table: 'todos',
              pk: id,
              op: 'upsert',
              baseVersion: 3,
              row: { id, list_id: list.pk, title: 'x' },
              columns: ['done'],
            },
          ]),
        });
        expect(bad.status).toBe(400);
        expect(await bad.json()).toMatchObject({ error: { code: 'bad_request' } });
        const rows = (await pullAll(t, ALICE)).flatMap((b) => b.rows).filter((r) => r.pk === id);
        expect(rows.at(-1)?.row).toMatchObject({ done: true, position: 3, title: 'milk' });
      });
    });

    describe('tombstones', () => {
      it('purges a tombstone with the pruned history, and takes a re-insert on it as no conflict', async () => {
        const t = await server({ retention: { maxBundlesPerUser: 1, intervalMs: 0 } });
        const source = randomUUID();
        const list = todo.list();
        const id = list.pk as string;
        await pushOk(t, ALICE, pushBody(source, 1, [list]));
        const deleted = await pushOk(t, ALICE, pushBody(source, 2, [todo.remove('lists', id, 1)]));
        const tombstone = deleted.body.rows[0]!.rowVersion;
        await pushOk(t, ALICE, pushBody(source, 3, [todo.list()]));
        await pushOk(t, ALICE, pushBody(source, 4, [todo.list()]));
        expect(await t.server.prune()).toMatchObject({ tombstonesPurged: 1, tombstones: 0 });
        const sync = (changes: unknown[], bundle: number) =>
          t.request('/v1/sync', {
            method: 'POST',
            user: ALICE,
            json: {
              protocol: 1,
              sourceId: source,
              push: { sourceBundleId: bundle, changes },
              after: 4,
            },
          });
        // An edit on the row's last live version: the row is gone, a conflict.
        const stale = await sync(
          [{ table: 'lists', pk: id, op: 'upsert', baseVersion: 1, row: { id, name: 'edit' } }],
          5,
        );
        expect(((await stale.json()) as { push: { status: string } }).push.status).toBe('conflict');
        // A re-creation on the tombstone its device saw: committed.
        const again = await sync(
          [
            {
              table: 'lists',
              pk: id,
              op: 'upsert',
              baseVersion: tombstone,
              row: { id, name: 'again' },
              baseDeleted: true,
            },
          ],
          5,
        );
        expect(await again.json()).toMatchObject({ push: { status: 'committed' } });
      });
      it('without a cursor too: a re-creation on a purged tombstone commits, an insert that may have been pushed before or an edit of a base whose version was lost meets a conflict, a plain insert commits, and pulls tell the floor', async () => {
        const t = await server({ retention: { maxBundlesPerUser: 1, intervalMs: 0 } });
        const source = randomUUID();
        const [gone, maybe] = [todo.list(), todo.list()];
        const goneId = gone.pk as string;
        const maybeId = maybe.pk as string;
        await pushOk(t, ALICE, pushBody(source, 1, [gone, maybe]));
        const deleted = await pushOk(
          t,
          ALICE,
          pushBody(source, 2, [todo.remove('lists', goneId, 1), todo.remove('lists', maybeId, 1)]),
        );
        const tombstone = deleted.body.rows[0]!.rowVersion;
        await pushOk(t, ALICE, pushBody(source, 3, [todo.list()]));
        await pushOk(t, ALICE, pushBody(source, 4, [todo.list()]));
        expect(await t.server.prune()).toMatchObject({ tombstonesPurged: 2 });
        const page = await t.request('/v1/pull?after=3', { user: ALICE });
        expect(await page.json()).toMatchObject({ prunedThrough: 3 });

        const maybePushed = {
          table: 'lists',
          pk: maybeId,
          op: 'upsert',
          baseVersion: null,
          row: { id: maybeId, name: 'maybe' },
          maybePushed: true,
        };
        const conflict = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 5, [maybePushed as Change]),
        });
        expect(conflict.status).toBe(409);
        expect(await conflict.json()).toMatchObject({
          conflicts: [{ pk: maybeId, serverVersion: null, serverRow: null }],
        });
        // An edit made on a base row whose version the device lost (its server's history went
        // with a restore) may be of a row deleted since: a conflict too, once tombstones went.
        const { maybePushed: _, ...plain } = maybePushed;
        const unversioned = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 5, [{ ...plain, columns: ['name'] } as Change]),
        });
        expect(unversioned.status).toBe(409);
        expect(await unversioned.json()).toMatchObject({
          conflicts: [{ pk: maybeId, serverVersion: null, serverRow: null }],
        });
        await pushOk(
          t,
          ALICE,
          pushBody(source, 5, [
            plain as Change,
            {
              table: 'lists',
              pk: goneId,
              op: 'upsert',
              baseVersion: tombstone,
              row: { id: goneId, name: 'again' },
              baseDeleted: true,
            },
          ]),
        );
        const lists = await t.request('/v1/pull?after=4', { user: ALICE });
        const rows = PullResponseSchema.parse(await lists.json()).bundles.flatMap((b) => b.rows);
        expect(rows.map((r) => r.pk).sort()).toEqual([goneId, maybeId].sort());
      });

      it('refuses the tombstone claims where they cannot hold: baseDeleted without a version, maybePushed with one', async () => {
        const t = await server();
        const id = randomUUID();
        for (const change of [
          { baseVersion: null, baseDeleted: true },
          { baseVersion: 3, maybePushed: true },
        ]) {
          const response = await t.request('/v1/push', {
            method: 'POST',
            user: ALICE,
            json: pushBody(randomUUID(), 1, [
              { table: 'lists', pk: id, op: 'upsert', row: { id, name: 'x' }, ...change } as Change,
            ]),
          });
          expect(response.status).toBe(400);
          expect(await response.json()).toMatchObject({ error: { code: 'bad_request' } });
        }
      });
    });

    describe('timestamps', () => {
      it('keeps the precision a timestamp was given and stores any offset as UTC', async () => {
        const t = await server();
        const source = randomUUID();
        const at = (id: string, created_at: string) => ({
          table: 'lists',
          pk: id,
          op: 'upsert' as const,
          baseVersion: null,
          row: { id, name: 'l', created_at },
        });
        const micro = randomUUID();
        const offset = randomUUID();
        const millis = randomUUID();
        await pushOk(
          t,
          ALICE,
          pushBody(source, 1, [
            at(micro, '2026-11-21T10:00:00.123456Z'),
            at(offset, '2026-11-21T11:30:00.5+01:30'),
            at(millis, '2026-11-21T10:00:00.120-00:00'),
          ]),
        );
        const rows = new Map(
          (await pullAll(t, ALICE)).flatMap((b) => b.rows).map((r) => [r.pk, r.row]),
        );
        expect(rows.get(micro)).toMatchObject({ created_at: '2026-11-21T10:00:00.123456Z' });
        expect(rows.get(offset)).toMatchObject({ created_at: '2026-11-21T10:00:00.500Z' });
        expect(rows.get(millis)).toMatchObject({ created_at: '2026-11-21T10:00:00.120Z' });
        const nano = randomUUID();
        const response = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(source, 2, [at(nano, '2026-11-21T10:00:00.123456789Z')]),
        });
        if (store === 'postgres') {
          // PostgreSQL keeps microseconds: refused, not rounded.
          expect(response.status).toBe(422);
          expect(await response.json()).toMatchObject({
            error: { details: { errors: [{ code: 'type_mismatch', column: 'created_at' }] } },
          });
        } else {
          expect(response.status).toBe(200);
          const pulled = (await pullAll(t, ALICE)).flatMap((b) => b.rows);
          expect(pulled.find((r) => r.pk === nano)?.row).toMatchObject({
            created_at: '2026-11-21T10:00:00.123456789Z',
          });
        }
      });
    });

    describe('conflicts', () => {
      it('answers a bundle of 5 changes with 3 stale ones with one 409 listing exactly those 3, committing nothing', async () => {
        const t = await server();
        const source = randomUUID();
        const lists = Array.from({ length: 5 }, (_, i) => todo.list(undefined, `list ${i}`));
        await pushOk(t, ALICE, pushBody(source, 1, lists));
        // Another device of Alice edits lists 1, 2 and 4.
        const other = randomUUID();
        await pushOk(
          t,
          ALICE,
          pushBody(
            other,
            1,
            [1, 2, 4].map((i) => todo.list(lists[i]!.pk as string, `theirs ${i}`, 1)),
          ),
        );
        const before = await t.dumpState();
        const response = await t.request('/v1/push', {
          method: 'POST',
          user: ALICE,
          json: pushBody(
            source,
            2,
            lists.map((l, i) => todo.list(l.pk as string, `mine ${i}`, 1)),
          ),
        });
        expect(response.status).toBe(409);
        const body = (await response.json()) as {
          error: { code: string };
          conflicts: Record<string, unknown>[];
        };
        expect(body.error.code).toBe('conflict');
        expect(body.conflicts.map((c) => c.index)).toEqual([1, 2, 4]);
        for (const c of body.conflicts) {
          const i = c.index as number;
          expect(c).toEqual({
            index: i,
            table: 'lists',
            pk: lists[i]!.pk,
            op: 'upsert',
            baseVersion: 1,
            serverVersion: 2,
            serverDeleted: false,
            serverRow: expect.objectContaining({
              id: lists[i]!.pk,
              name: `theirs ${i}`,
              owner_id: ALICE,
            }),
          });
        }
        expect(await t.dumpState()).toBe(before);
      });

      it('answers a conflicting push in /v1/sync with 200, push.status conflict and the pull', async () => {
        const t = await server();
        const source = randomUUID();
        const list = todo.list();
        await pushOk(t, ALICE, pushBody(randomUUID(), 1, [list]));
        const response = await t.request('/v1/sync', {
          method: 'POST',
          user: ALICE,
          json: {
            protocol: 1,
            sourceId: source,
            push: { sourceBundleId: 1, changes: [todo.list(list.pk as string, 'x', null)] },
            after: 0,
          },
        });
        expect(response.status).toBe(200);
        const body = SyncResponseSchema.parse(await response.json());
        expect(body.push).toMatchObject({
          status: 'conflict',
          conflicts: [{ index: 0, serverVersion: 1 }],
        });
        expect(body.pull.bundles.map((b) => b.bundleSeq)).toEqual([1]);
      });

      it('includes a committed sync push in its own pull', async () => {
        const t = await server();
        const source = randomUUID();
        const response = await t.request('/v1/sync', {
          method: 'POST',
          user: ALICE,
          json: {
            protocol: 1,
            sourceId: source,
            push: { sourceBundleId: 1, changes: [todo.list()] },
            after: 0,
            limit: 10,
          },
        });
        expect(response.status).toBe(200);
        const body = SyncResponseSchema.parse(await response.json());
        expect(body.push).toMatchObject({ status: 'committed', sourceBundleId: 1, bundleSeq: 1 });
        expect(body.pull).toMatchObject({ stableBundleSeq: 1, hasMore: false });
        expect(body.pull.bundles[0]).toMatchObject({
          bundleSeq: 1,
          sourceId: source,
          sourceBundleId: 1,
        });
        // A sync without a push is a pull.
        const pullOnly = await t.request('/v1/sync', {
          method: 'POST',
          user: ALICE,
          json: { protocol: 1, sourceId: source, push: null, after: 1 },
        });
        expect(SyncResponseSchema.parse(await pullOnly.json())).toEqual({
          push: null,
          pull: { bundles: [], stableBundleSeq: 1, hasMore: false, serverId: body.pull.serverId },
        });
      });

      it('sends a committed sync push’s rows once when asked (pushRows unless-pulled): in the page when it carries the bundle, else in the result', async () => {
        const t = await server();
        const source = randomUUID();
        const second = [todo.list()];
        const sync = async (sourceBundleId: number, after: number, limit: number) => {
          const response = await t.request('/v1/sync', {
            method: 'POST',
            user: ALICE,
            json: {
              protocol: 1,
              sourceId: source,
              push: { sourceBundleId, changes: sourceBundleId === 2 ? second : [todo.list()] },
              after,
              limit,
              pushRows: 'unless-pulled',
            },
          });
          expect(response.status).toBe(200);
          return SyncResponseSchema.parse(await response.json());
        };
        // The page reaches the pushed bundle: its rows are there only.
        const once = await sync(1, 0, 10);
        expect(once.push).toEqual({
          status: 'committed',
          sourceBundleId: 1,
          bundleSeq: 1,
          rowsInPull: true,
          token: once.pull.bundles[0]!.token,
        });
        expect(once.pull.bundles[0]!.rows).toHaveLength(1);
        expect(committedPushRows(once.push as CommittedPush, once.pull)).toBe(
          once.pull.bundles[0]!.rows,
        );
        // Another source's bundles fill the page before ours: the rows come in the result.
        await pushOk(t, ALICE, pushBody(randomUUID(), 1, [todo.list()]));
        const apart = await sync(2, 1, 1);
        expect(apart.push).toMatchObject({ status: 'committed', bundleSeq: 3 });
        expect(apart.pull.bundles.map((b) => b.bundleSeq)).toEqual([2]);
        const rows = (apart.push as CommittedPush).rows;
        expect(rows).toHaveLength(1);
        expect((apart.push as CommittedPush).rowsInPull).toBeUndefined();
        // A replay of the same push answers the same way (rows once, the page reaching it).
        const replay = await sync(2, 2, 10);
        expect(replay.push).toMatchObject({ status: 'committed', bundleSeq: 3, rowsInPull: true });
        expect(replay.pull.bundles.map((b) => b.bundleSeq)).toEqual([3]);
      });
    });

    describe('isolation', () => {
      it('lets user B neither read nor change user A’s rows through any endpoint', async () => {
        const t = await server({ events: { heartbeatMs: 50 } });
        const list = todo.list(undefined, 'alice secret');
        const item = todo.item(list.pk as string, undefined, 'alice todo');
        await pushOk(t, ALICE, pushBody(randomUUID(), 1, [list, item]));

        expect(await pullAll(t, BOB)).toEqual([]);
        const sync = await t.request('/v1/sync', {
          method: 'POST',
          user: BOB,
          json: { protocol: 1, sourceId: randomUUID(), push: null, after: 0 },
        });
        expect(JSON.stringify(await sync.json())).not.toContain('alice');
        const snapshot = await snapshotLines(t, BOB);
        expect(snapshot).toEqual([
          { snapshotBundleSeq: 0, serverId: expect.stringMatching(UUID) },
          { end: true, rowCount: 0 },
        ]);

        const before = await t.dumpState();
        for (const change of [
          todo.list(list.pk as string, 'bob was here', 1),
          todo.list(list.pk as string, 'bob was here', null),
          todo.remove('lists', list.pk as string, 1),
          todo.remove('todos', item.pk as string, null),
          todo.item(list.pk as string, item.pk as string, 'bob', 1),
        ]) {
          for (const path of ['/v1/push', '/v1/sync']) {
            const source = randomUUID();
            const json =
              path === '/v1/push'
                ? pushBody(source, 1, [change])
                : {
                    protocol: 1,
                    sourceId: source,
                    push: { sourceBundleId: 1, changes: [change] },
                    after: 0,
                  };
            const response = await t.request(path, { method: 'POST', user: BOB, json });
            const text = await response.text();
            expect(response.status, text).toBe(403);
            expect(text).not.toContain('alice');
          }
        }
        // A todo of Bob's in Alice's list is a dangling reference, not a way in.
        const sneaky = await t.request('/v1/push', {
          method: 'POST',
          user: BOB,
          json: pushBody(randomUUID(), 1, [todo.item(list.pk as string)]),
        });
        expect(sneaky.status).toBe(422);
        expect(await t.dumpState()).toBe(before);

        // Bob's event stream hears nothing of Alice's commits.
        const controller = new AbortController();
        const events = await fetch(`${t.url}/v1/events`, {
          headers: { authorization: `Bearer ${await t.token(BOB)}` },
          signal: controller.signal,
        });
        const reader = events.body!.getReader();
        await pushOk(t, ALICE, pushBody(randomUUID(), 1, [todo.list()]));
        let text = '';
        while (!text.includes('keep-alive'))
          text += new TextDecoder().decode((await reader.read()).value);
        expect(text).not.toContain('event: poke');
        controller.abort();
      });

      it('refuses a subject that a store could read as another user (unpaired surrogate, NUL, controls, too long) with 401', async () => {
        const t = await server();
        // The user a PostgreSQL driver makes of "\ud800" when it binds it.
        const list = todo.list(undefined, 'replacement character secret');
        await pushOk(t, '\ufffd', pushBody(randomUUID(), 1, [list]));
        const before = await t.dumpState();
        for (const sub of ['\ud800', '\udfff', 'a\u0000b', 'tab\t', 'x\u009b', 'u'.repeat(256)]) {
          const token = await new SignJWT({})
            .setProtectedHeader({ alg: 'HS256' })
            .setSubject(sub)
            .setExpirationTime('1h')
            .sign(new TextEncoder().encode(TEST_SECRET));
          for (const [method, path, json] of [
            ['GET', '/v1/pull?after=0', undefined],
            ['GET', '/v1/snapshot', undefined],
            ['POST', '/v1/sync', { protocol: 1, sourceId: randomUUID(), push: null, after: 0 }],
            ['POST', '/v1/push', pushBody(randomUUID(), 1, [todo.list()])],
          ] as const) {
            const response = await t.request(path, {
              method,
              headers: { authorization: `Bearer ${token}` },
              ...(json === undefined ? {} : { json }),
            });
            const text = await response.text();
            expect(response.status, `${JSON.stringify(sub)} ${method} ${path}: ${text}`).toBe(401);
            expect(text).not.toContain('secret');
          }
        }
        expect(await t.dumpState()).toBe(before);
      });
    });

    describe('cascade', () => {
      it('commits a list delete as one bundle holding the list and every child todo delete', async () => {
        const t = await server();
        const source = randomUUID();
        const list = todo.list();
        const items = Array.from({ length: 4 }, () => todo.item(list.pk as string));
        const keep = todo.list();
        await pushOk(
          t,
          ALICE,
          pushBody(source, 1, [list, keep, ...items, todo.item(keep.pk as string)]),
        );
        const { body } = await pushOk(
          t,
          ALICE,
          pushBody(source, 2, [todo.remove('lists', list.pk as string, 1)]),
        );
        expect(body.rows).toHaveLength(5);
        expect(
          body.rows.every((r) => r.op === 'delete' && r.rowVersion === 2 && r.row === null),
        ).toBe(true);
        expect(body.rows.at(-1)).toMatchObject({ table: 'lists', pk: list.pk });
        const bundles = await pullAll(t, ALICE);
        expect(bundles.at(-1)!.rows).toEqual(body.rows);
        const snapshot = await snapshotLines(t, ALICE);
        expect(snapshot.filter((l) => 'table' in l).map((l) => l.table)).toEqual([
          'lists',
          'todos',
        ]);
      });
    });

    describe('pull', () => {
      it('pages at bundle boundaries for every limit from 1 to N, a bundle bigger than the limit coming whole', async () => {
        const t = await server({ http: false });
        const source = randomUUID();
        const sizes = [2, 1, 4, 1, 3];
        for (const [i, size] of sizes.entries()) {
          await pushOk(
            t,
            ALICE,
            pushBody(
              source,
              i + 1,
              Array.from({ length: size }, () => todo.list()),
            ),
          );
        }
        const total = sizes.reduce((a, b) => a + b, 0);
        for (let limit = 1; limit <= total; limit++) {
          const pages: number[][] = [];
          let after = 0;
          for (;;) {
            const response = await t.request(`/v1/pull?after=${after}&limit=${limit}`, {
              user: ALICE,
            });
            const page = PullResponseSchema.parse(await response.json());
            expect(page.stableBundleSeq).toBe(sizes.length);
            const rows = page.bundles.reduce((n, b) => n + b.rows.length, 0);
            expect(page.bundles.length === 1 || rows <= limit).toBe(true);
            pages.push(page.bundles.map((b) => b.bundleSeq));
            after = page.bundles.at(-1)!.bundleSeq;
            if (!page.hasMore) break;
          }
          expect(pages.flat()).toEqual([1, 2, 3, 4, 5]);
          // Greedy: each page is as full as the limit allows.
          for (const [index, page] of pages.entries()) {
            const next = pages[index + 1]?.[0];
            if (next === undefined) continue;
            const used = page.reduce((n, seq) => n + sizes[seq - 1]!, 0);
            expect(used + sizes[next - 1]! > limit).toBe(true);
          }
        }
      });

      it('never moves stableBundleSeq backwards while pushes commit', async () => {
        const t = await server();
        const source = randomUUID();
        let seen = 0;
        const pushes = (async () => {
          for (let i = 1; i <= 30; i++) await pushOk(t, ALICE, pushBody(source, i, [todo.list()]));
        })();
        let done = false;
        void pushes.then(() => (done = true));
        while (!done) {
          const page = PullResponseSchema.parse(
            await (await t.request('/v1/pull?after=0&limit=1', { user: ALICE })).json(),
          );
          expect(page.stableBundleSeq).toBeGreaterThanOrEqual(seen);
          seen = page.stableBundleSeq;
        }
        await pushes;
      });
    });

    describe('identity and history', () => {
      it('names the server and each bundle’s history in push, pull, sync and snapshot answers, and checks a cursor’s token', async () => {
        let t = await server();
        const source = randomUUID();
        const changes = [todo.list()];
        const first = (await pushOk(t, ALICE, pushBody(source, 1, changes))).body;
        expect(first.token).toMatch(/^[0-9a-f]{64}$/);

        const pulled = await t.request('/v1/pull?after=0', { user: ALICE });
        const page = PullResponseSchema.parse(await pulled.json());
        expect(page.serverId).toMatch(UUID);
        expect(page.bundles).toEqual([
          expect.objectContaining({
            bundleSeq: 1,
            token: first.token,
            digest: bundleDigest(changes),
          }),
        ]);

        const synced = await t.request('/v1/sync', {
          method: 'POST',
          user: ALICE,
          json: {
            protocol: 1,
            sourceId: source,
            push: { sourceBundleId: 2, changes: [] },
            after: 1,
            afterToken: first.token,
          },
        });
        expect(synced.status).toBe(200);
        const sync = SyncResponseSchema.parse(await synced.json());
        const second = sync.push?.status === 'committed' ? sync.push.token : undefined;
        expect(second).toMatch(/^[0-9a-f]{64}$/);
        expect(second).not.toBe(first.token);
        expect(sync.pull.serverId).toBe(page.serverId);
        expect(sync.pull.bundles).toEqual([
          expect.objectContaining({ bundleSeq: 2, token: second, digest: bundleDigest([]) }),
        ]);

        const atEnd = await t.request(`/v1/pull?after=2&token=${second}`, { user: ALICE });
        expect(atEnd.status).toBe(200);
        expect(PullResponseSchema.parse(await atEnd.json()).bundles).toEqual([]);
        const lines = await snapshotLines(t, ALICE);
        expect(lines[0]).toEqual({ snapshotBundleSeq: 2, token: second, serverId: page.serverId });
        expect((await snapshotLines(t, BOB))[0]).toEqual({
          snapshotBundleSeq: 0,
          serverId: page.serverId,
        });
        // Asked with the client's checkpoint, the snapshot says whether it is on this history.
        const judged = async (query: string) =>
          (await snapshotLines(t, ALICE, query))[0]?.['afterHistory'];
        expect(await judged(`?after=1&token=${first.token}`)).toBe('kept');
        expect(await judged(`?after=2&token=${first.token}`)).toBe('lost');
        expect(await judged('?after=9')).toBe('lost');
        expect(await judged('?after=1')).toBe('kept');
        for (const bad of ['?after=-1', '?after=x', `?token=${first.token}`, '?after=1&token=']) {
          const refused = await t.request(`/v1/snapshot${bad}`, { user: ALICE });
          expect(refused.status, bad).toBe(400);
          expect(await refused.json(), bad).toMatchObject({ error: { code: 'bad_request' } });
        }

        // A restart keeps the identity and every token.
        t = current = await t.restart();
        const again = PullResponseSchema.parse(
          await (await t.request('/v1/pull?after=0', { user: ALICE })).json(),
        );
        expect(again.serverId).toBe(page.serverId);
        expect(again.bundles.map((b) => b.token)).toEqual([first.token, second]);
      });
    });

    describe('snapshot', () => {
      it('equals the result of applying every bundle from 1', async () => {
        const t = await server();
        const source = randomUUID();
        const lists = [todo.list(), todo.list(), todo.list()];
        const items = lists.map((l) => todo.item(l.pk as string));
        await pushOk(t, ALICE, pushBody(source, 1, [...lists, ...items]));
        await pushOk(
          t,
          ALICE,
          pushBody(source, 2, [
            todo.item(lists[0]!.pk as string, items[0]!.pk as string, 'changed', 1),
          ]),
        );
        await pushOk(
          t,
          ALICE,
          pushBody(source, 3, [todo.remove('lists', lists[2]!.pk as string, 1)]),
        );
        await t.server.write(ALICE, (tx) =>
          t.storeKind === 'postgres'
            ? tx.execute('UPDATE todos SET done = true WHERE id = $1', [items[1]!.pk])
            : tx.execute('UPDATE todos SET done = 1 WHERE id = ?', [items[1]!.pk]),
        );

        const state = new Map<string, unknown>();
        for (const bundle of await pullAll(t, ALICE, 2)) {
          for (const r of bundle.rows) {
            if (r.op === 'delete') state.delete(`${r.table}/${r.pk}`);
            else state.set(`${r.table}/${r.pk}`, { rowVersion: r.rowVersion, row: r.row });
          }
        }
        const lines = await snapshotLines(t, ALICE);
        expect(lines[0]).toEqual({
          snapshotBundleSeq: 4,
          token: expect.stringMatching(/^[0-9a-f]{64}$/),
          serverId: expect.stringMatching(UUID),
        });
        expect(lines.at(-1)).toEqual({ end: true, rowCount: 4 });
        const fromSnapshot = new Map(
          lines
            .slice(1, -1)
            .map((l) => [
              `${l.table as string}/${l.pk as string}`,
              { rowVersion: l.rowVersion, row: l.row },
            ]),
        );
        expect(fromSnapshot).toEqual(state);
      });
    });
  });
}

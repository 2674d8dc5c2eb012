/* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest asymmetric matchers are typed any */
/**
 * The ServerStore contract suite: every store implementation runs it through
 * `describeStoreContract([...factories])` (describe.each over the factories).
 */
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { Bundle, Change, RowEffect, SnapshotRow } from '@ferry/protocol';
import type { PullOutcome, PushInput, PushOutcome, ServerStore } from '../store/server-store.js';
import { todo } from './harness.js';
import { describeHistoryContract } from './history-contract.js';

/** Writes to the business tables that bypass the server (another connection or process). */
export interface ExternalWriter {
  insertList(id: string, owner: string, name: string): Promise<void>;
  renameList(id: string, name: string): Promise<void>;
  setListOwner(id: string, owner: string): Promise<void>;
  deleteList(id: string): Promise<void>;
}

/** A store under test, opened on the example schema. */
export interface StoreUnderTest {
  readonly store: ServerStore;
  readonly external: ExternalWriter;
  /** Closes this store and opens a new one on the same data. */
  reopen(): Promise<StoreUnderTest>;
  cleanup(): Promise<void>;
}

/** Options of {@link StoreFactory.create}, passed on to the store. */
export interface StoreTestOptions {
  /** The store's `createServerId` option. */
  readonly createServerId?: () => string;
}

export interface StoreFactory {
  readonly name: string;
  create(options?: StoreTestOptions): Promise<StoreUnderTest>;
}

const ALICE = 'alice';
const BOB = 'bob';

/** Runs the contract over every factory. */
export function describeStoreContract(factories: readonly StoreFactory[]): void {
  describe.each(factories)('the $name store', (factory) => {
    const withStore = (fn: (t: StoreUnderTest) => Promise<void>) => async () => {
      let t = await factory.create();
      try {
        await fn(t);
      } finally {
        await t.cleanup();
        t = undefined as unknown as StoreUnderTest;
      }
    };

    describeHistoryContract(factory);

    it(
      'commits a push as the user’s next bundle with every row effect and server-derived columns',
      withStore(async ({ store }) => {
        const list = todo.list();
        const item = todo.item(list.pk as string);
        const now = new Date('2026-11-21T10:00:00.000Z');
        const outcome = await push(store, ALICE, randomUUID(), 1, [list, item], now);
        const body = committed(outcome);
        expect(body.bundleSeq).toBe(1);
        expect(body.rows.map((r) => [r.table, r.op, r.rowVersion])).toEqual([
          ['lists', 'upsert', 1],
          ['todos', 'upsert', 1],
        ]);
        expect(body.rows[0]!.row).toEqual({
          id: list.pk,
          owner_id: ALICE,
          name: 'Groceries',
          created_at: null,
          updated_at: '2026-11-21T10:00:00.000Z',
        });
        expect(await store.lastBundleSeq(ALICE)).toBe(1);
        expect(await store.lastBundleSeq(BOB)).toBe(0);
      }),
    );

    it(
      'returns the identical stored answer for a replay and commits once',
      withStore(async (t) => {
        const source = randomUUID();
        const changes = [todo.list()];
        const first = await push(t.store, ALICE, source, 1, changes);
        const second = await push(t.store, ALICE, source, 1, changes);
        const third = await push(t.store, ALICE, source, 1, changes);
        expect(second).toMatchObject({ kind: 'committed', replayed: true });
        expect(json(second)).toBe(json(first));
        expect(json(third)).toBe(json(first));
        const reopened = await t.reopen();
        const fourth = await push(reopened.store, ALICE, source, 1, changes);
        expect(json(fourth)).toBe(json(first));
        expect(await reopened.store.lastBundleSeq(ALICE)).toBe(1);
        await reopened.cleanup();
      }),
    );

    it(
      'answers bundle_gap and stale_bundle with the last committed id',
      withStore(async ({ store }) => {
        const source = randomUUID();
        expect(await push(store, ALICE, source, 2, [])).toMatchObject({
          kind: 'rejected',
          code: 'bundle_gap',
          details: { lastCommitted: 0 },
        });
        committed(await push(store, ALICE, source, 1, []));
        committed(await push(store, ALICE, source, 2, []));
        expect(await push(store, ALICE, source, 1, [])).toMatchObject({
          code: 'stale_bundle',
          details: { lastCommitted: 2 },
        });
        expect(await push(store, ALICE, source, 4, [])).toMatchObject({
          code: 'bundle_gap',
          details: { lastCommitted: 2 },
        });
        expect(await store.lastBundleSeq(ALICE)).toBe(2);
      }),
    );

    it(
      'lists every conflicting change of a bundle and commits nothing',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const lists = Array.from({ length: 5 }, () => todo.list());
        committed(await push(store, ALICE, source, 1, lists));
        committed(
          await push(
            store,
            ALICE,
            source,
            2,
            lists.slice(0, 3).map((l) => todo.list(l.pk as string, 'renamed', 1)),
          ),
        );
        // 0..2 are now at version 2: baseVersion 1 is stale for them, current for 3 and 4.
        const changes = lists.map((l) => todo.list(l.pk as string, 'mine', 1));
        const outcome = await push(store, ALICE, source, 3, changes);
        expect(outcome.kind).toBe('conflict');
        const conflicts = outcome.kind === 'conflict' ? outcome.conflicts : [];
        expect(conflicts.map((c) => c.index)).toEqual([0, 1, 2]);
        for (const c of conflicts) {
          expect(c).toMatchObject({
            op: 'upsert',
            baseVersion: 1,
            serverVersion: 2,
            serverDeleted: false,
          });
          expect(c.serverRow).toMatchObject({ id: c.pk, name: 'renamed' });
        }
        expect(await store.lastBundleSeq(ALICE)).toBe(2);
      }),
    );

    it(
      'detects each kind of conflict and accepts deletes that have no effect',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const [a, b, c] = [todo.list(), todo.list(), todo.list()];
        committed(await push(store, ALICE, source, 1, [a, b, c]));
        committed(await push(store, ALICE, source, 2, [todo.remove('lists', c.pk as string, 1)]));
        const ghost = randomUUID();
        const outcome = await push(store, ALICE, source, 3, [
          todo.list(a.pk as string, 'x', null), // exists, client thinks it is new
          todo.list(ghost, 'x', 4), // server never had it
          todo.remove('lists', b.pk as string, null), // delete without the version
          todo.list(c.pk as string, 'x', null), // a tombstone counts as existing
        ]);
        expect(outcome.kind === 'conflict' && outcome.conflicts).toEqual([
          expect.objectContaining({ index: 0, serverVersion: 1, serverDeleted: false }),
          expect.objectContaining({
            index: 1,
            serverVersion: null,
            serverDeleted: false,
            serverRow: null,
          }),
          expect.objectContaining({ index: 2, serverVersion: 1, serverDeleted: false }),
          expect.objectContaining({
            index: 3,
            serverVersion: 2,
            serverDeleted: true,
            serverRow: null,
          }),
        ]);
        const noop = await push(store, ALICE, source, 3, [
          todo.remove('lists', randomUUID(), null),
          todo.remove('lists', c.pk as string, 2),
        ]);
        expect(committed(noop).rows).toEqual([]);
      }),
    );

    it(
      'refuses another user’s row, alive or deleted, naming the changes and nothing else',
      withStore(async ({ store }) => {
        const alive = todo.list();
        const gone = todo.list();
        committed(await push(store, ALICE, randomUUID(), 1, [alive, gone]));
        const aliceSource = randomUUID();
        committed(
          await push(store, ALICE, aliceSource, 1, [todo.remove('lists', gone.pk as string, 1)]),
        );
        const bobSource = randomUUID();
        const outcome = await push(store, BOB, bobSource, 1, [
          todo.list(),
          todo.list(alive.pk as string, 'stolen', 1),
          todo.remove('lists', gone.pk as string, 2),
        ]);
        expect(outcome).toEqual({
          kind: 'rejected',
          code: 'forbidden',
          message: expect.any(String),
          details: {
            changes: [
              { index: 1, table: 'lists', pk: alive.pk },
              { index: 2, table: 'lists', pk: gone.pk },
            ],
          },
        });
        expect(JSON.stringify(outcome)).not.toContain('Groceries');
        expect(await store.lastBundleSeq(BOB)).toBe(0);
      }),
    );

    it(
      'rejects references to missing, foreign or deleted parents and children left behind by a restrict',
      withStore(async ({ store }) => {
        const aliceList = todo.list();
        committed(await push(store, ALICE, randomUUID(), 1, [aliceList]));
        const bobSource = randomUUID();
        const doomed = todo.list();
        committed(await push(store, BOB, bobSource, 1, [doomed]));
        const outcome = await push(store, BOB, bobSource, 2, [
          todo.item(randomUUID()),
          todo.item(aliceList.pk as string),
          todo.remove('lists', doomed.pk as string, 1),
          todo.item(doomed.pk as string),
        ]);
        expect(outcome).toMatchObject({ kind: 'rejected', code: 'validation_failed' });
        const errors = (outcome as { details: { errors: { index: number; code: string }[] } })
          .details.errors;
        expect(errors.map((e) => [e.index, e.code])).toEqual([
          [0, 'fk_violation'],
          [1, 'fk_violation'],
          [3, 'fk_violation'],
        ]);
        // A parent upserted in the same bundle is fine, in any order.
        const list = todo.list();
        committed(await push(store, BOB, bobSource, 2, [todo.item(list.pk as string), list]));
      }),
    );

    it(
      'commits a list delete and every cascaded child delete as one bundle',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const list = todo.list();
        const items = Array.from({ length: 3 }, () => todo.item(list.pk as string));
        committed(await push(store, ALICE, source, 1, [list, ...items]));
        const body = committed(
          await push(store, ALICE, source, 2, [todo.remove('lists', list.pk as string, 1)]),
        );
        expect(body.bundleSeq).toBe(2);
        expect(body.rows.map((r) => [r.table, r.op, r.rowVersion])).toEqual([
          ['todos', 'delete', 2],
          ['todos', 'delete', 2],
          ['todos', 'delete', 2],
          ['lists', 'delete', 2],
        ]);
        expect(new Set(body.rows.map((r) => r.pk))).toEqual(
          new Set([list.pk, ...items.map((i) => i.pk)]),
        );
        const snapshot = await readSnapshot(store, ALICE);
        expect(snapshot.rows).toEqual([]);
      }),
    );

    it(
      'pages pulls at bundle boundaries for every limit, with a big bundle whole',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const sizes = [1, 3, 2, 5, 1];
        let id = 1;
        for (const size of sizes) {
          const lists = Array.from({ length: size }, () => todo.list());
          committed(await push(store, ALICE, source, id++, lists));
        }
        const total = sizes.reduce((a, b) => a + b, 0);
        for (let limit = 1; limit <= total + 1; limit++) {
          const seen: number[] = [];
          let after = 0;
          let pages = 0;
          for (;;) {
            const page = pageOf(await store.pull({ userId: ALICE, after, limit }));
            pages++;
            expect(page.stableBundleSeq).toBe(sizes.length);
            expect(page.bundles.length).toBeGreaterThan(0);
            const rows = page.bundles.reduce((n, b) => n + b.rowCount, 0);
            if (page.bundles.length > 1) expect(rows).toBeLessThanOrEqual(limit);
            seen.push(...page.bundles.map((b) => b.bundleSeq));
            after = page.bundles.at(-1)!.bundleSeq;
            if (!page.hasMore) break;
            expect(pages).toBeLessThan(20);
          }
          expect(seen).toEqual([1, 2, 3, 4, 5]);
        }
        const last = pageOf(await store.pull({ userId: ALICE, after: 5, limit: 10 }));
        expect(last).toMatchObject({ bundles: [], stableBundleSeq: 5, hasMore: false });
        expect(await store.pull({ userId: ALICE, after: 6, limit: 10 })).toMatchObject({
          kind: 'rejected',
          code: 'cursor_unknown',
        });
      }),
    );

    it(
      'prunes history by count and age, answers history_pruned, and still replays exactly',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const first = await push(store, ALICE, source, 1, [todo.list()], new Date(1_000));
        const lastChanges = [todo.list()];
        let last: PushOutcome = first;
        for (let i = 2; i <= 5; i++) {
          const changes = i === 5 ? lastChanges : [todo.list()];
          last = await push(store, ALICE, source, i, changes, new Date(i * 1_000));
          committed(last);
        }
        const pruneByCount = await store.prune({ maxBundlesPerUser: 3 }, new Date(10_000));
        expect(pruneByCount.bundlesDeleted).toBe(2);
        expect(await store.pull({ userId: ALICE, after: 1, limit: 10 })).toMatchObject({
          code: 'history_pruned',
        });
        expect(
          pageOf(await store.pull({ userId: ALICE, after: 2, limit: 10 })).bundles.map(
            (b) => b.bundleSeq,
          ),
        ).toEqual([3, 4, 5]);
        await store.prune({ maxAgeMs: 1_500 }, new Date(5_000));
        expect(await store.pull({ userId: ALICE, after: 2, limit: 10 })).toMatchObject({
          code: 'history_pruned',
        });
        const other = randomUUID();
        committed(await push(store, ALICE, other, 1, []));
        const replay = await push(store, ALICE, source, 5, lastChanges);
        expect(replay).toMatchObject({ kind: 'committed', replayed: true, bundleSeq: 5 });
        expect(json(replay)).toBe(json(last));
      }),
    );

    it(
      'gives a snapshot equal to replaying every bundle from 1',
      withStore(async ({ store }) => {
        const source = randomUUID();
        const lists = [todo.list(), todo.list()];
        const items = lists.flatMap((l) => [todo.item(l.pk as string), todo.item(l.pk as string)]);
        committed(await push(store, ALICE, source, 1, [...lists, ...items]));
        committed(
          await push(store, ALICE, source, 2, [
            todo.item(lists[0]!.pk as string, items[0]!.pk as string, 'edited', 1),
          ]),
        );
        committed(
          await push(store, ALICE, source, 3, [todo.remove('lists', lists[1]!.pk as string, 1)]),
        );
        await store.write(ALICE, async (tx) => {
          await tx.upsert('lists', { id: randomUUID(), name: 'from the backend' });
        });
        committed(await push(store, BOB, randomUUID(), 1, [todo.list()]));

        const replayed = new Map<string, { rowVersion: number; row: unknown }>();
        for (const bundle of await pullAll(store, ALICE)) {
          for (const effect of bundle.rows) applyEffect(replayed, effect);
        }
        const snapshot = await readSnapshot(store, ALICE);
        expect(snapshot.snapshotBundleSeq).toBe(4);
        const fromSnapshot = new Map(
          snapshot.rows.map((r) => [
            `${r.table}/${String(r.pk)}`,
            { rowVersion: r.rowVersion, row: r.row },
          ]),
        );
        expect(fromSnapshot).toEqual(replayed);
        expect(snapshot.rows.map((r) => r.table)).toEqual(['lists', 'lists', 'todos', 'todos']);
      }),
    );

    it(
      'turns backend writes and raw SQL from outside into sourceless bundles of each affected user',
      withStore(async ({ store, external }) => {
        const heard: string[] = [];
        store.onCommit((bundles) =>
          heard.push(...bundles.map((b) => `${b.userId}:${b.bundleSeq}:${b.origin}`)),
        );
        const listId = randomUUID();
        const result = await store.write(ALICE, async (tx) => {
          await tx.upsert('lists', { id: listId, name: 'backend list' });
          await tx.upsert('todos', { id: randomUUID(), list_id: listId, title: 'backend todo' });
          return 'done';
        });
        expect(result.value).toBe('done');
        expect(result.bundles).toEqual([
          { userId: ALICE, bundleSeq: 1, rowCount: 2, origin: 'backend' },
        ]);

        const rawId = randomUUID();
        await external.insertList(rawId, ALICE, 'raw insert');
        await external.insertList(randomUUID(), BOB, 'raw for bob');
        const bundles = await pullAll(store, ALICE);
        expect(bundles.map((b) => [b.bundleSeq, b.sourceId, b.sourceBundleId])).toEqual([
          [1, null, null],
          [2, null, null],
        ]);
        expect(bundles[1]!.rows).toEqual([
          expect.objectContaining({
            table: 'lists',
            pk: rawId,
            op: 'upsert',
            row: expect.objectContaining({ name: 'raw insert' }),
          }),
        ]);
        expect(await store.lastBundleSeq(BOB)).toBe(1);

        // A raw write lands before a later push of the same user, in its own bundle.
        await external.renameList(rawId, 'renamed raw');
        const pushed = committed(
          await push(store, ALICE, randomUUID(), 1, [todo.list(rawId, 'pushed', 3)]),
        );
        expect(pushed.bundleSeq).toBe(4);
        expect(heard).toContain('alice:3:backend');
        expect(heard).toContain('alice:4:push');

        // A failing write commits nothing.
        await expect(
          store.write(ALICE, async (tx) => {
            await tx.upsert('lists', { id: randomUUID(), name: 'never' });
            throw new Error('boom');
          }),
        ).rejects.toThrow('boom');
        await expect(
          store.write(ALICE, (tx) =>
            tx.upsert('lists', { id: randomUUID(), name: 'x'.repeat(201) }),
          ),
        ).rejects.toMatchObject({ code: 'validation_failed' });
        expect(await store.lastBundleSeq(ALICE)).toBe(4);
      }),
    );

    it(
      'moves a row between users as a delete for one and an upsert for the other, versions rising',
      withStore(async ({ store, external }) => {
        const list = todo.list();
        for (let i = 1; i <= 3; i++)
          committed(await push(store, ALICE, randomUUID(), 1, i === 1 ? [list] : []));
        await external.setListOwner(list.pk as string, BOB);
        const alice = await pullAll(store, ALICE);
        const bob = await pullAll(store, BOB);
        const lost = alice.at(-1)!.rows[0]!;
        const gained = bob.at(-1)!.rows[0]!;
        expect(lost).toMatchObject({ op: 'delete', pk: list.pk });
        expect(gained).toMatchObject({
          op: 'upsert',
          pk: list.pk,
          row: expect.objectContaining({ owner_id: BOB }),
        });
        expect(gained.rowVersion).toBeGreaterThan(1);
        expect(gained.rowVersion).toBe(lost.rowVersion);
        // Alice no longer may touch it; Bob may, at the new version.
        expect(
          await push(store, ALICE, randomUUID(), 1, [todo.list(list.pk as string, 'x', 1)]),
        ).toMatchObject({ code: 'forbidden' });
        committed(
          await push(store, BOB, randomUUID(), 1, [
            todo.list(list.pk as string, 'bob', gained.rowVersion),
          ]),
        );
        await external.deleteList(list.pk as string);
        const bobAfter = await pullAll(store, BOB);
        expect(bobAfter.at(-1)!.rows[0]).toMatchObject({ op: 'delete', pk: list.pk });
      }),
    );
  });
}

async function push(
  store: ServerStore,
  userId: string,
  sourceId: string,
  sourceBundleId: number,
  changes: Change[],
  now = new Date(),
): Promise<PushOutcome> {
  const input: PushInput = { userId, sourceId, sourceBundleId, changes, now };
  return store.push(input);
}

interface PushBody {
  sourceBundleId: number;
  bundleSeq: number;
  rows: RowEffect[];
}

function committed(outcome: PushOutcome): PushBody {
  if (outcome.kind !== 'committed')
    throw new Error(`expected a commit, got ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.responseJson) as PushBody;
}

function json(outcome: PushOutcome): string {
  return outcome.kind === 'committed' ? outcome.responseJson : JSON.stringify(outcome);
}

function pageOf(outcome: PullOutcome) {
  if (outcome.kind !== 'page') throw new Error(`expected a page, got ${JSON.stringify(outcome)}`);
  return outcome.page;
}

/** Every bundle of a user from the start, parsed. */
export async function pullAll(store: ServerStore, userId: string): Promise<Bundle[]> {
  const bundles: Bundle[] = [];
  let after = 0;
  for (;;) {
    const page = pageOf(await store.pull({ userId, after, limit: 1000 }));
    for (const b of page.bundles) {
      bundles.push({
        bundleSeq: b.bundleSeq,
        sourceId: b.sourceId,
        sourceBundleId: b.sourceBundleId,
        rows: JSON.parse(b.rowsJson) as RowEffect[],
      });
      after = b.bundleSeq;
    }
    if (!page.hasMore) return bundles;
  }
}

/** Reads a whole snapshot. */
export async function readSnapshot(store: ServerStore, userId: string) {
  const reader = await store.snapshot(userId);
  const rows: SnapshotRow[] = [];
  try {
    for await (const batch of reader.rows()) rows.push(...batch);
  } finally {
    await reader.close();
  }
  return { snapshotBundleSeq: reader.snapshotBundleSeq, rows };
}

function applyEffect(
  state: Map<string, { rowVersion: number; row: unknown }>,
  effect: RowEffect,
): void {
  const key = `${effect.table}/${String(effect.pk)}`;
  if (effect.op === 'delete') state.delete(key);
  else state.set(key, { rowVersion: effect.rowVersion, row: effect.row });
}

export { todoSchema as CONTRACT_SCHEMA };

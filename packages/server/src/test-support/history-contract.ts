/* eslint-disable @typescript-eslint/no-unsafe-assignment -- vitest asymmetric matchers are typed any */
/**
 * The part of the ServerStore contract about identity and history (issue 10, items 5 and 7):
 * the database's serverId, bundle digests (a resend with other changes is `bundle_mismatch`),
 * and history tokens (a cursor from another history is `cursor_unknown` / `history_diverged`).
 * Registered by `describeStoreContract` for every store.
 */
import { randomUUID } from 'node:crypto';
import { expect, it } from 'vitest';
import {
  bundleDigest,
  type Change,
  type RowEffect,
  type SnapshotAfterHistory,
} from '@ferry/protocol';
import { snapshotAfterHistory } from '../core/decide-cursor.js';
import { genesisToken, nextHistoryToken } from '../core/history-token.js';
import type { StoredBundle } from '../core/wire-json.js';
import type { PullOutcome, PushOutcome, ServerStore } from '../store/server-store.js';
import { todo } from './harness.js';
import type { StoreFactory, StoreTestOptions, StoreUnderTest } from './store-contract.js';

const ALICE = 'alice';
const BOB = 'bob';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** Registers the identity and history cases for one store factory (inside its describe). */
export function describeHistoryContract(factory: StoreFactory): void {
  const withStore =
    (fn: (t: StoreUnderTest) => Promise<void>, options?: StoreTestOptions) => async () => {
      const t = await factory.create(options);
      try {
        await fn(t);
      } finally {
        await t.cleanup();
      }
    };

  it('keeps one serverId for the life of its data, in every pull page and snapshot', async () => {
    let calls = 0;
    const fixed = randomUUID();
    const t = await factory.create({ createServerId: () => (calls++, fixed) });
    const other = await factory.create();
    let reopened: StoreUnderTest | undefined;
    try {
      expect(t.store.serverId).toBe(fixed);
      expect(calls).toBe(1);
      committed(await push(t.store, ALICE, randomUUID(), 1, [todo.list()]));
      expect(pageOf(await t.store.pull({ userId: ALICE, after: 0, limit: 10 })).serverId).toBe(
        fixed,
      );
      expect(pageOf(await t.store.pull({ userId: BOB, after: 0, limit: 10 })).serverId).toBe(fixed);
      const reader = await t.store.snapshot(ALICE);
      expect(reader.serverId).toBe(fixed);
      await reader.close();
      // Made once with the data: a restart reads it back and makes none.
      reopened = await t.reopen();
      expect(reopened.store.serverId).toBe(fixed);
      expect(calls).toBe(1);
      // Another database is another server.
      expect(other.store.serverId).toMatch(UUID);
      expect(other.store.serverId).not.toBe(fixed);
    } finally {
      await (reopened ?? t).cleanup();
      await other.cleanup();
    }
  });

  it(
    'answers a bundle with other changes under the last committed sourceBundleId with bundle_mismatch, committing nothing, and replays an identical resend',
    withStore(async (t) => {
      const source = randomUUID();
      const mine = todo.list();
      const theirs = todo.list();
      const first = await push(t.store, ALICE, source, 1, [mine]);
      const mismatch = await push(t.store, ALICE, source, 1, [theirs]);
      expect(mismatch).toEqual({
        kind: 'rejected',
        code: 'bundle_mismatch',
        message: expect.stringContaining('another install seems to share this sourceId'),
        details: { lastCommitted: 1 },
      });
      // No change at all is other changes too.
      expect(await push(t.store, ALICE, source, 1, [])).toMatchObject({ code: 'bundle_mismatch' });
      expect(await t.store.lastBundleSeq(ALICE)).toBe(1);
      // The same changes, keys in another order, are the same bundle: a replay.
      const reordered = {
        row: { name: 'Groceries', id: mine.pk },
        baseVersion: null,
        op: 'upsert',
        pk: mine.pk,
        table: 'lists',
      } as const;
      const replay = await push(t.store, ALICE, source, 1, [reordered]);
      expect(replay).toMatchObject({ kind: 'committed', replayed: true });
      expect(json(replay)).toBe(json(first));
      // In a sync the push is refused and nothing is pulled or committed.
      const synced = await t.store.sync({
        push: {
          userId: ALICE,
          sourceId: source,
          sourceBundleId: 1,
          changes: [theirs],
          now: new Date(),
        },
        pull: { userId: ALICE, after: 0, limit: 10 },
        now: new Date(),
      });
      expect(synced).toEqual({
        push: expect.objectContaining({ code: 'bundle_mismatch' }),
        pull: null,
      });
      // The digest outlives the bundle (pruned) and the process (reopened).
      committed(await push(t.store, ALICE, randomUUID(), 1, []));
      await t.store.prune({ maxBundlesPerUser: 0 }, new Date());
      const reopened = await t.reopen();
      try {
        expect(await push(reopened.store, ALICE, source, 1, [theirs])).toMatchObject({
          code: 'bundle_mismatch',
          details: { lastCommitted: 1 },
        });
        expect(json(await push(reopened.store, ALICE, source, 1, [mine]))).toBe(json(first));
        expect(await reopened.store.lastBundleSeq(ALICE)).toBe(2);
        expect(committed(await push(reopened.store, ALICE, source, 2, [theirs])).bundleSeq).toBe(3);
      } finally {
        await reopened.cleanup();
      }
    }),
  );

  it(
    'gives every bundle a history token chained from the server’s identity, the same in push answers, pulls and snapshots',
    withStore(async (t) => {
      const { store, external } = t;
      const source = randomUUID();
      const list = todo.list();
      const changes: Change[] = [list, todo.item(list.pk as string)];
      const first = committed(await push(store, ALICE, source, 1, changes));
      await store.write(ALICE, (tx) => tx.upsert('lists', { id: randomUUID(), name: 'backend' }));
      await external.insertList(randomUUID(), ALICE, 'raw SQL');
      committed(await push(store, BOB, randomUUID(), 1, [todo.list()]));
      const third = committed(
        await push(store, ALICE, source, 2, [todo.list(list.pk as string, 'x', 1)]),
      );
      const empty = await readHead(store, 'nobody');
      expect(empty).toEqual({ snapshotBundleSeq: 0, token: null, serverId: store.serverId });

      const bundles = await pullStored(store, ALICE);
      expect(bundles.map((b) => b.bundleSeq)).toEqual([1, 2, 3, 4]);
      // Each token is nextHistoryToken of the one before, the first from genesisToken.
      let previous = genesisToken(store.serverId!, ALICE);
      for (const bundle of bundles) {
        expect(bundle.token).toBe(nextHistoryToken(previous, bundle));
        previous = bundle.token!;
      }
      expect(new Set(bundles.map((b) => b.token)).size).toBe(4);
      // Pushed bundles carry the digest of their changes; backend and raw SQL ones none.
      expect(bundles.map((b) => b.digest)).toEqual([
        bundleDigest(changes),
        null,
        null,
        bundleDigest([todo.list(list.pk as string, 'x', 1)]),
      ]);
      expect(first.token).toBe(bundles[0]!.token);
      expect(third.token).toBe(bundles[3]!.token);
      // The replay answer carries it too.
      expect(
        committed(await push(store, ALICE, source, 2, [todo.list(list.pk as string, 'x', 1)]))
          .token,
      ).toBe(third.token);
      expect(await readHead(store, ALICE)).toEqual({
        snapshotBundleSeq: 4,
        token: bundles[3]!.token,
        serverId: store.serverId,
      });
      // Bob's history is his own, from his own start.
      const [bob] = await pullStored(store, BOB);
      expect(bob!.token).toBe(nextHistoryToken(genesisToken(store.serverId!, BOB), bob!));

      const reopened = await t.reopen();
      try {
        expect((await pullStored(reopened.store, ALICE)).map((b) => b.token)).toEqual(
          bundles.map((b) => b.token),
        );
        expect((await readHead(reopened.store, ALICE)).token).toBe(bundles[3]!.token);
      } finally {
        await reopened.cleanup();
      }
    }),
  );

  it('refuses a cursor whose token names another history with cursor_unknown history_diverged, in a pull and before a sync commits', async () => {
    // Two databases with one identity (as a backup restored over a server that went on):
    // the same first bundle, then different ones.
    const serverId = randomUUID();
    const a = await factory.create({ createServerId: () => serverId });
    const b = await factory.create({ createServerId: () => serverId });
    try {
      const source = randomUUID();
      const shared = todo.list();
      const now = new Date('2026-12-01T10:00:00.000Z');
      for (const t of [a, b]) committed(await push(t.store, ALICE, source, 1, [shared], now));
      committed(await push(a.store, ALICE, source, 2, [todo.list()], now));
      committed(await push(b.store, ALICE, source, 2, [todo.list()], now));
      committed(await push(b.store, ALICE, randomUUID(), 1, [todo.list()], now));
      const [a1, a2] = await pullStored(a.store, ALICE);
      const [b1, b2] = await pullStored(b.store, ALICE);
      expect(b1!.token).toBe(a1!.token);
      expect(b2!.token).not.toBe(a2!.token);

      const pull = (after: number, token?: string) =>
        b.store.pull({ userId: ALICE, after, limit: 10, token });
      // The shared prefix is the same history; bundle 2 is not.
      expect(pageOf(await pull(1, a1!.token!)).bundles.map((x) => x.bundleSeq)).toEqual([2, 3]);
      expect(await pull(2, a2!.token!)).toEqual(diverged(2));
      expect(pageOf(await pull(2, b2!.token!)).bundles.map((x) => x.bundleSeq)).toEqual([3]);
      // Without a token there is nothing to compare.
      expect(pageOf(await pull(2)).bundles).toHaveLength(1);
      // A cursor past the history is ahead.
      expect(await pull(4, a2!.token!)).toMatchObject({
        code: 'cursor_unknown',
        details: { reason: 'ahead' },
      });
      // A sync whose cursor diverged commits nothing.
      const synced = await b.store.sync({
        push: {
          userId: ALICE,
          sourceId: randomUUID(),
          sourceBundleId: 1,
          changes: [todo.list()],
          now,
        },
        pull: { userId: ALICE, after: 2, limit: 10, token: a2!.token! },
        now,
      });
      expect(synced.push).toEqual(diverged(2));
      expect(await b.store.lastBundleSeq(ALICE)).toBe(3);
      // A snapshot opened with a checkpoint judges it by the same rule, in its own read: the
      // shared prefix is kept, another history's bundle 2 and a cursor past the end are lost.
      expect(await judgedBySnapshot(b.store, 1, a1!.token!)).toBe('kept');
      expect(await judgedBySnapshot(b.store, 2, b2!.token!)).toBe('kept');
      expect(await judgedBySnapshot(b.store, 2, a2!.token!)).toBe('lost');
      expect(await judgedBySnapshot(b.store, 4, a2!.token!)).toBe('lost');
      expect(await judgedBySnapshot(b.store, 2)).toBe('kept');
    } finally {
      await a.cleanup();
      await b.cleanup();
    }
  });

  it(
    'keeps the token of the prune boundary, so a cursor there is still checked',
    withStore(async ({ store }) => {
      const source = randomUUID();
      for (let i = 1; i <= 5; i++) committed(await push(store, ALICE, source, i, [todo.list()]));
      const tokens = (await pullStored(store, ALICE)).map((b) => b.token!);
      await store.prune({ maxBundlesPerUser: 3 }, new Date());
      const pull = (after: number, token?: string) =>
        store.pull({ userId: ALICE, after, limit: 10, token });
      expect(pageOf(await pull(2, tokens[1])).bundles.map((b) => b.bundleSeq)).toEqual([3, 4, 5]);
      expect(await pull(2, tokens[2])).toEqual(diverged(2));
      expect(pageOf(await pull(3, tokens[2])).bundles).toHaveLength(2);
      expect(await pull(1, tokens[0])).toMatchObject({ code: 'history_pruned' });
      expect(await judgedBySnapshot(store, 2, tokens[1])).toBe('kept');
      expect(await judgedBySnapshot(store, 2, tokens[2])).toBe('lost');
      expect(await judgedBySnapshot(store, 1, tokens[0])).toBe('pruned');
      // Pruned to the end: the last token is the boundary's.
      await store.prune({ maxBundlesPerUser: 0 }, new Date());
      expect(pageOf(await pull(5, tokens[4])).bundles).toEqual([]);
      expect(await pull(5, tokens[3])).toEqual(diverged(5));
      const synced = await store.sync({
        push: { userId: ALICE, sourceId: source, sourceBundleId: 6, changes: [], now: new Date() },
        pull: { userId: ALICE, after: 5, limit: 10, token: tokens[3] },
        now: new Date(),
      });
      expect(synced.push).toEqual(diverged(5));
      expect(await store.lastBundleSeq(ALICE)).toBe(5);
      // A new bundle chains on from the last one, pruned or not.
      committed(await push(store, ALICE, source, 6, []));
      const [sixth] = await pullStored(store, ALICE, 5);
      expect(sixth!.token).toBe(nextHistoryToken(tokens[4]!, sixth!));
    }),
  );
}

function diverged(after: number) {
  return {
    kind: 'rejected',
    code: 'cursor_unknown',
    message: expect.stringContaining(`pull cursor ${after}`),
    details: { reason: 'history_diverged' },
  };
}

function push(
  store: ServerStore,
  userId: string,
  sourceId: string,
  sourceBundleId: number,
  changes: Change[],
  now = new Date(),
): Promise<PushOutcome> {
  return store.push({ userId, sourceId, sourceBundleId, changes, now });
}

function committed(outcome: PushOutcome) {
  if (outcome.kind !== 'committed') {
    throw new Error(`expected a commit, got ${JSON.stringify(outcome)}`);
  }
  return JSON.parse(outcome.responseJson) as {
    sourceBundleId: number;
    bundleSeq: number;
    rows: RowEffect[];
    token?: string;
  };
}

function json(outcome: PushOutcome): string {
  return outcome.kind === 'committed' ? outcome.responseJson : JSON.stringify(outcome);
}

function pageOf(outcome: PullOutcome) {
  if (outcome.kind !== 'page') throw new Error(`expected a page, got ${JSON.stringify(outcome)}`);
  return outcome.page;
}

/** Every retained bundle of a user after `after`, as the store keeps it. */
async function pullStored(store: ServerStore, userId: string, after = 0): Promise<StoredBundle[]> {
  const bundles: StoredBundle[] = [];
  for (;;) {
    const page = pageOf(await store.pull({ userId, after, limit: 1000 }));
    bundles.push(...page.bundles);
    after = page.bundles.at(-1)?.bundleSeq ?? after;
    if (!page.hasMore) return bundles;
  }
}

/** How a snapshot opened with cursor `after` (and `token`) judges it; the reader is closed. */
async function judgedBySnapshot(
  store: ServerStore,
  after: number,
  token?: string,
): Promise<SnapshotAfterHistory> {
  const reader = await store.snapshot(ALICE, after);
  try {
    expect(reader.cursor).toBeDefined();
    return snapshotAfterHistory({ after, token }, reader.cursor!);
  } finally {
    await reader.close();
  }
}

/** What a snapshot's header says, read and closed. */
async function readHead(store: ServerStore, userId: string) {
  const reader = await store.snapshot(userId);
  try {
    return {
      snapshotBundleSeq: reader.snapshotBundleSeq,
      token: reader.token,
      serverId: reader.serverId,
      ...(reader.cursor === undefined ? {} : { cursor: reader.cursor }),
    };
  } finally {
    await reader.close();
  }
}

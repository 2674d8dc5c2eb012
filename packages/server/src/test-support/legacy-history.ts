/**
 * A small history as a store of the first metadata layout (before server identities, history
 * tokens and bundle digests) left it, and what an upgraded store must then do with it. The
 * SQLite (sqlite-upgrade.test.ts) and PostgreSQL (postgres-upgrade.pg.test.ts) tests build
 * such a database with their store's old layout and run {@link expectLegacyUpgrade}.
 */
import { expect } from 'vitest';
import type { Change } from '@ferry/protocol';
import { genesisToken, nextHistoryToken } from '../core/history-token.js';
import type { PullOutcome, PushOutcome, ServerStore } from '../store/server-store.js';

/** Alice's source that committed both old bundles. */
export const LEGACY_SOURCE = '5e1f0c2a-3b4d-4e6f-8a9b-0c1d2e3f4a5b';
/** Alice's one list, created by bundle 1 and renamed by bundle 2. */
export const LEGACY_LIST = '9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d';
/** When the old bundles committed. */
export const LEGACY_TIME = '2026-01-02T03:04:05.006Z';

/** The list as bundle `version` left it. */
export function legacyListRow(version: 1 | 2) {
  return {
    id: LEGACY_LIST,
    owner_id: 'alice',
    name: version === 1 ? 'first' : 'renamed',
    created_at: null,
    updated_at: LEGACY_TIME,
  };
}

/** The two old bundles of Alice: seq 1 and 2, from {@link LEGACY_SOURCE} #1 and #2. */
export const LEGACY_BUNDLES = ([1, 2] as const).map((seq) => ({
  bundleSeq: seq,
  sourceId: LEGACY_SOURCE,
  sourceBundleId: seq,
  rowsJson: JSON.stringify([
    { table: 'lists', pk: LEGACY_LIST, op: 'upsert', rowVersion: seq, row: legacyListRow(seq) },
  ]),
}));

/**
 * What a store opened on the legacy history must do: keep the old bundles (no token, no
 * digest) and replay the old source as before, accept any token for an old bundle, and give
 * every new bundle a token chained from its new identity.
 */
export async function expectLegacyUpgrade(store: ServerStore, serverId: string): Promise<void> {
  expect(store.serverId).toBe(serverId);
  const old = pageOf(await store.pull({ userId: 'alice', after: 0, limit: 10 }));
  expect(old.serverId).toBe(serverId);
  expect(
    old.bundles.map(({ bundleSeq, sourceId, sourceBundleId, rowsJson, token, digest }) => ({
      bundleSeq,
      sourceId,
      sourceBundleId,
      rows: JSON.parse(rowsJson) as unknown,
      token,
      digest,
    })),
  ).toEqual(
    LEGACY_BUNDLES.map((b) => ({
      bundleSeq: b.bundleSeq,
      sourceId: b.sourceId,
      sourceBundleId: b.sourceBundleId,
      rows: JSON.parse(b.rowsJson) as unknown,
      token: null,
      digest: null,
    })),
  );
  // An old bundle has no token to compare: any token passes, at the end and before it.
  expect(pageOf(await pull(store, 2, 'f'.repeat(64))).bundles).toEqual([]);
  expect(pageOf(await pull(store, 1, 'f'.repeat(64))).bundles).toHaveLength(1);
  // The old source's last bundle has no digest: a resend replays as it always did.
  const replay = await push(store, 2, []);
  expect(replay).toMatchObject({ kind: 'committed', replayed: true, bundleSeq: 2 });
  expect(JSON.parse((replay as { responseJson: string }).responseJson)).toEqual({
    sourceBundleId: 2,
    bundleSeq: 2,
    rows: JSON.parse(LEGACY_BUNDLES[1]!.rowsJson) as unknown,
  });
  const snapshot = await store.snapshot('alice');
  expect({ seq: snapshot.snapshotBundleSeq, token: snapshot.token }).toEqual({
    seq: 2,
    token: null,
  });
  await snapshot.close();

  // The first new bundle chains from the identity; the old row goes on from its version.
  const changes: Change[] = [
    { table: 'lists', pk: LEGACY_LIST, op: 'upsert', baseVersion: 2, row: { name: 'new' } },
  ];
  const third = await push(store, 3, changes);
  expect(third).toMatchObject({ kind: 'committed', replayed: false, bundleSeq: 3 });
  const [bundle] = pageOf(await pull(store, 2)).bundles;
  expect(bundle!.token).toBe(nextHistoryToken(genesisToken(serverId, 'alice'), bundle!));
  expect(JSON.parse((third as { responseJson: string }).responseJson)).toMatchObject({
    token: bundle!.token,
  });
  expect(await pull(store, 3, 'f'.repeat(64))).toMatchObject({
    code: 'cursor_unknown',
    details: { reason: 'history_diverged' },
  });
  expect(pageOf(await pull(store, 3, bundle!.token!)).bundles).toEqual([]);
  expect(await push(store, 3, [])).toMatchObject({ code: 'bundle_mismatch' });
  expect(await push(store, 3, changes)).toMatchObject({ kind: 'committed', replayed: true });
}

function pull(store: ServerStore, after: number, token?: string): Promise<PullOutcome> {
  return store.pull({ userId: 'alice', after, limit: 10, token });
}

function push(store: ServerStore, sourceBundleId: number, changes: Change[]): Promise<PushOutcome> {
  return store.push({
    userId: 'alice',
    sourceId: LEGACY_SOURCE,
    sourceBundleId,
    changes,
    now: new Date(),
  });
}

function pageOf(outcome: PullOutcome) {
  if (outcome.kind !== 'page') throw new Error(`expected a page, got ${JSON.stringify(outcome)}`);
  return outcome.page;
}

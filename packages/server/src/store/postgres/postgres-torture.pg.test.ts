/**
 * Concurrency torture on PostgreSQL: 8 pushers (several sources of one user, and other users)
 * and 4 pullers, with a random pg_sleep inside every commit transaction so that commits
 * overlap. Every puller must receive every bundle of its user exactly once, in order, with no
 * gap, and its checkpoint only rises. The negative control runs the same against a store whose
 * seq allocation is deliberately taken outside the user's lock, and must catch a skip.
 *
 *   FERRY_TORTURE_SECONDS=60 SEED=1234 npx vitest run packages/server/src/store/postgres/postgres-torture.pg.test.ts
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import type { Change, RowEffect } from '@ferry/protocol';
import { todo } from '../../test-support/harness.js';
import type { ServerStore } from '../server-store.js';
import {
  describePg,
  openTestStore,
  pgClientConfig,
  type TestSchemas,
} from './test-support/pg-test-database.js';

const SECONDS = Number(process.env.FERRY_TORTURE_SECONDS ?? 20);
const NEGATIVE_MAX_SECONDS = Math.max(10, SECONDS);
const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

/** Which user each pusher and puller works for: 4 sources of u1, 2 of u2, 2 of u3. */
const PUSHERS = ['u1', 'u1', 'u1', 'u1', 'u2', 'u2', 'u3', 'u3'];
const PULLERS = ['u1', 'u1', 'u2', 'u3'];

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePg('concurrency torture on PostgreSQL', () => {
  it(
    `delivers every bundle of a user exactly once, in order, with no gap, to every puller, while 8 sources push for ${SECONDS} s`,
    async () => {
      console.log(`torture seed ${SEED} (replay: SEED=${SEED} FERRY_TORTURE_SECONDS=${SECONDS})`);
      const random = mulberry32(SEED);
      const { store, cleanup } = await openTestStore({
        pool: { max: 14 },
        testHooks: { commitDelayMs: () => random() * 4 },
      });
      cleanups.push(cleanup);
      const result = await torture(store, random, { seconds: SECONDS });
      console.log(
        `torture: ${result.pushes} pushes (${result.replays} replays), ${result.pulls} pulls, ${result.bundles} bundles received`,
      );
      expect(result.violations).toEqual([]);
      expect(result.pushes).toBeGreaterThan(PUSHERS.length * 5);
      // Afterwards, a fresh read of each user's history holds exactly the committed pushes.
      for (const user of new Set(PUSHERS)) {
        const all = await pullEverything(store, user);
        const expected = result.committed.get(user)!;
        expect(all.map((b) => b.bundleSeq)).toEqual(expected.map((_, i) => i + 1));
        expect(all.map((b) => b.rowsJson)).toEqual(expected.map((c) => c.rowsJson));
      }
    },
    SECONDS * 1_000 + 60_000,
  );

  it(
    'catches the skip when the seq is allocated outside the user’s lock (negative control)',
    async () => {
      const seed = SEED + 1;
      console.log(`negative control seed ${seed}`);
      const random = mulberry32(seed);
      const { store, cleanup } = await openTestStore({
        pool: { max: 14 },
        testHooks: { commitDelayMs: () => random() * 4, allocateOutsideLock: true },
      });
      cleanups.push(cleanup);
      const result = await torture(store, random, {
        seconds: NEGATIVE_MAX_SECONDS,
        stopWhen: (violation) => violation.includes('skipped'),
      });
      const skip = result.violations.find((v) => v.includes('skipped'));
      console.log(`negative control: ${skip ?? 'no skip'} after ${result.pushes} pushes`);
      expect(skip).toBeDefined();
    },
    NEGATIVE_MAX_SECONDS * 1_000 + 60_000,
  );

  it('serialises one user’s commits on the user’s row lock while other users commit in parallel', async () => {
    const { store, schemas, cleanup } = await openTestStore();
    cleanups.push(cleanup);
    const blocked = randomUUID();
    const free = randomUUID();
    expectCommitted(await store.push(pushInput('alice', blocked, 1)));
    expectCommitted(await store.push(pushInput('bob', free, 1)));
    const holder = await lockUser(schemas, 'alice');
    try {
      let aliceDone = false;
      const alice = store.push(pushInput('alice', blocked, 2)).then((outcome) => {
        aliceDone = true;
        return outcome;
      });
      // Bob commits while Alice's sync-state row is locked; Alice's push waits for it.
      for (let i = 2; i <= 4; i++) expectCommitted(await store.push(pushInput('bob', free, i)));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(aliceDone).toBe(false);
      await holder.release();
      expect(expectCommitted(await alice)).toBe(2);
    } finally {
      await holder.release();
    }
  });
});

interface CommittedPush {
  readonly bundleSeq: number;
  readonly rowsJson: string;
}

interface TortureResult {
  readonly violations: string[];
  readonly pushes: number;
  readonly replays: number;
  readonly pulls: number;
  readonly bundles: number;
  /** Per user, the committed pushes by bundleSeq (index = seq - 1). */
  readonly committed: Map<string, CommittedPush[]>;
}

async function torture(
  store: ServerStore,
  random: () => number,
  options: { seconds: number; stopWhen?: (violation: string) => boolean },
): Promise<TortureResult> {
  const violations: string[] = [];
  const committed = new Map<string, CommittedPush[]>();
  for (const user of new Set(PUSHERS)) committed.set(user, []);
  const deadline = Date.now() + options.seconds * 1_000;
  const stopWhen = options.stopWhen;
  const running = () =>
    Date.now() < deadline && !(stopWhen !== undefined && violations.some(stopWhen));
  let pushes = 0;
  let replays = 0;
  let pulls = 0;
  let bundles = 0;

  const pusher = async (user: string, index: number) => {
    const sourceId = randomUUID();
    const mine: { id: string; version: number }[] = [];
    let last: { id: number; changes: Change[]; responseJson: string } | undefined;
    for (let id = 1; running(); id++) {
      if (last && random() < 0.05) {
        const replay = await store.push(pushInput(user, sourceId, last.id, last.changes));
        replays++;
        if (replay.kind !== 'committed' || replay.responseJson !== last.responseJson) {
          violations.push(
            `pusher ${index}: replay of ${last.id} answered ${JSON.stringify(replay)}`,
          );
        }
      }
      const changes: Change[] = [];
      const count = 1 + Math.floor(random() * 3);
      for (let i = 0; i < count; i++) {
        const own =
          mine.length > 0 && random() < 0.3 ? mine[Math.floor(random() * mine.length)] : undefined;
        if (own && !changes.some((c) => c.pk === own.id)) {
          changes.push(todo.list(own.id, `edit ${id}`, own.version));
        } else {
          changes.push(todo.list(randomUUID(), `new ${id}`));
        }
      }
      const outcome = await store.push(pushInput(user, sourceId, id, changes));
      pushes++;
      if (outcome.kind !== 'committed' || outcome.replayed) {
        violations.push(`pusher ${index}: push ${id} answered ${JSON.stringify(outcome)}`);
        return;
      }
      const body = JSON.parse(outcome.responseJson) as { bundleSeq: number; rows: RowEffect[] };
      committed.get(user)![body.bundleSeq - 1] = {
        bundleSeq: body.bundleSeq,
        rowsJson: JSON.stringify(body.rows),
      };
      for (const row of body.rows) {
        const known = mine.find((m) => m.id === row.pk);
        if (known) known.version = row.rowVersion;
        else mine.push({ id: row.pk as string, version: row.rowVersion });
      }
      last = { id, changes, responseJson: outcome.responseJson };
    }
  };

  const puller = async (user: string, index: number) => {
    let checkpoint = 0;
    let stable = 0;
    while (running()) {
      const outcome = await store.pull({
        userId: user,
        after: checkpoint,
        limit: 1 + Math.floor(random() * 8),
      });
      pulls++;
      if (outcome.kind !== 'page') {
        violations.push(`puller ${index}: pull after ${checkpoint} answered ${outcome.code}`);
        return;
      }
      const page = outcome.page;
      if (page.stableBundleSeq < stable) {
        violations.push(
          `puller ${index}: stableBundleSeq moved back from ${stable} to ${page.stableBundleSeq}`,
        );
      }
      stable = Math.max(stable, page.stableBundleSeq);
      for (const bundle of page.bundles) {
        if (bundle.bundleSeq !== checkpoint + 1) {
          violations.push(
            `puller ${index} (${user}): after ${checkpoint} got bundle ${bundle.bundleSeq}: ${bundle.bundleSeq > checkpoint + 1 ? 'skipped' : 'repeated'} ${checkpoint + 1}`,
          );
        }
        if (bundle.bundleSeq <= checkpoint) continue;
        checkpoint = bundle.bundleSeq;
        bundles++;
      }
      if (page.bundles.length === 0 && page.hasMore) {
        violations.push(`puller ${index}: empty page with hasMore`);
      }
      if (random() < 0.3) await new Promise((resolve) => setTimeout(resolve, random() * 3));
    }
  };

  await Promise.all([
    ...PUSHERS.map((user, index) => pusher(user, index)),
    ...PULLERS.map((user, index) => puller(user, index)),
  ]);
  return { violations, pushes, replays, pulls, bundles, committed };
}

async function pullEverything(store: ServerStore, userId: string) {
  const all: { bundleSeq: number; rowsJson: string }[] = [];
  let after = 0;
  for (;;) {
    const outcome = await store.pull({ userId, after, limit: 5_000 });
    if (outcome.kind !== 'page') throw new Error(`pull failed: ${outcome.code}`);
    all.push(...outcome.page.bundles);
    after = outcome.page.bundles.at(-1)?.bundleSeq ?? after;
    if (!outcome.page.hasMore) return all;
  }
}

function pushInput(userId: string, sourceId: string, sourceBundleId: number, changes?: Change[]) {
  return {
    userId,
    sourceId,
    sourceBundleId,
    changes: changes ?? [todo.list()],
    now: new Date(),
  };
}

function expectCommitted(outcome: Awaited<ReturnType<ServerStore['push']>>): number {
  if (outcome.kind !== 'committed')
    throw new Error(`expected a commit: ${JSON.stringify(outcome)}`);
  return outcome.bundleSeq;
}

/** Holds the row lock of a user's sync state in a transaction of its own until released. */
async function lockUser(schemas: TestSchemas, userId: string) {
  const client = new pg.Client(pgClientConfig());
  client.on('error', () => undefined);
  await client.connect();
  await client.query('BEGIN');
  await client.query(`SELECT 1 FROM "${schemas.meta}".users WHERE user_id = $1 FOR UPDATE`, [
    userId,
  ]);
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** A small seeded PRNG (mulberry32): the same seed replays the same choices. */
function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

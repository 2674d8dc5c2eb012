import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PullResponseSchema, PushResponseSchema, type Bundle } from '@ferry/protocol';
import { pushBody, startTestServer, todo, type TestServer } from './test-support/harness.js';

/**
 * 8 sources of one user push while 4 pullers pull in a loop, over real HTTP. Runs for
 * FERRY_CONCURRENCY_MS (default 2,000 ms); randomised by SEED (printed) — replay with
 * `SEED=… npx vitest run packages/server/src/ferry-server.concurrency.test.ts`.
 */
const DURATION_MS = Number(process.env.FERRY_CONCURRENCY_MS ?? 2_000);
const SEED = Number(process.env.SEED ?? Math.floor(Math.random() * 2 ** 31));

function random(seed: number) {
  let state = seed >>> 0 || 1;
  return (n: number) => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) % n;
  };
}

describe('concurrency', () => {
  let t: TestServer;
  beforeAll(async () => {
    t = await startTestServer({ http: true, limits: { rateLimit: false } });
  });
  afterAll(() => t.close());

  it('shows every puller every bundle exactly once, in order, with no gaps, while 8 sources push', async () => {
    console.log(`concurrency test: SEED=${SEED} FERRY_CONCURRENCY_MS=${DURATION_MS}`);
    const next = random(SEED);
    const deadline = Date.now() + DURATION_MS;
    const committed = new Map<number, string>();

    const pusher = async (worker: number) => {
      const source = randomUUID();
      const list = todo.list(undefined, `source ${worker}`);
      let sourceBundleId = 0;
      const own = [list];
      while (Date.now() < deadline) {
        sourceBundleId++;
        const size = 1 + next(20);
        const changes =
          sourceBundleId === 1
            ? own
            : Array.from({ length: size }, () => todo.item(list.pk as string));
        const response = await t.request('/v1/push', {
          method: 'POST',
          user: 'alice',
          json: pushBody(source, sourceBundleId, changes),
        });
        const text = await response.text();
        expect(response.status, text).toBe(200);
        const body = PushResponseSchema.parse(JSON.parse(text));
        expect(committed.has(body.bundleSeq)).toBe(false);
        committed.set(body.bundleSeq, JSON.stringify(body.rows));
      }
    };

    const puller = async () => {
      const seen: Bundle[] = [];
      let after = 0;
      let stable = 0;
      const pullOnce = async () => {
        const limit = 1 + next(60);
        const response = await t.request(`/v1/pull?after=${after}&limit=${limit}`, {
          user: 'alice',
        });
        expect(response.status).toBe(200);
        const page = PullResponseSchema.parse(await response.json());
        expect(page.stableBundleSeq).toBeGreaterThanOrEqual(stable);
        stable = page.stableBundleSeq;
        for (const bundle of page.bundles) {
          expect(bundle.bundleSeq).toBe(after + 1);
          after = bundle.bundleSeq;
          seen.push(bundle);
        }
        return page.hasMore;
      };
      while (Date.now() < deadline) await pullOnce();
      return { seen, pullOnce };
    };

    const pullers = Array.from({ length: 4 }, () => puller());
    await Promise.all(Array.from({ length: 8 }, (_, i) => pusher(i)));
    const results = await Promise.all(pullers);
    const last = Math.max(...committed.keys());
    expect([...committed.keys()].sort((a, b) => a - b)).toEqual(
      Array.from({ length: last }, (_, i) => i + 1),
    );
    for (const { seen, pullOnce } of results) {
      while (await pullOnce());
      expect(seen.map((b) => b.bundleSeq)).toEqual(Array.from({ length: last }, (_, i) => i + 1));
      for (const bundle of seen)
        expect(JSON.stringify(bundle.rows)).toBe(committed.get(bundle.bundleSeq));
    }
    console.log(`concurrency test: ${last} bundles committed, each seen by 4 pullers`);
  });
});

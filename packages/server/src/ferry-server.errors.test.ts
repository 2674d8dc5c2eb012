import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { describeErrorTable, seed } from './test-support/error-table-suite.js';
import { pushBody, startTestServer, todo } from './test-support/harness.js';
import { dumpState } from './test-support/state.js';

const ALICE = 'alice';
const BOB = 'bob';

describeErrorTable('sqlite');

describe('limits that need their own server', () => {
  it('answers 429 with Retry-After past the per-user rate and changes nothing', async () => {
    const t = await startTestServer({
      http: true,
      limits: { rateLimit: { requestsPerSecond: 0.5, burst: 2 } },
    });
    try {
      const source = randomUUID();
      expect((await t.request('/v1/pull', { user: ALICE })).status).toBe(200);
      expect((await t.request('/v1/pull', { user: ALICE })).status).toBe(200);
      const before = dumpState(t.dbPath);
      const limited = await t.request('/v1/push', {
        method: 'POST',
        user: ALICE,
        json: pushBody(source, 1, [todo.list()]),
      });
      expect(limited.status).toBe(429);
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect(((await limited.json()) as { error: { code: string } }).error.code).toBe(
        'rate_limited',
      );
      expect(dumpState(t.dbPath)).toBe(before);
      // Another user has a bucket of their own.
      expect((await t.request('/v1/pull', { user: BOB })).status).toBe(200);
    } finally {
      await t.close();
    }
  });

  it('answers 503 with Retry-After while shutting down, after in-flight requests drain', async () => {
    const t = await startTestServer({ http: false });
    await seed(t);
    const snapshot = await t.request('/v1/snapshot', { user: ALICE });
    expect(snapshot.status).toBe(200);
    const before = dumpState(t.dbPath);
    const closing = t.server.close();
    const refused = await t.server.handler(
      new Request('http://ferry.test/v1/push', {
        method: 'POST',
        headers: { authorization: `Bearer ${await t.token(ALICE)}` },
        body: JSON.stringify(pushBody(randomUUID(), 1, [todo.list()])),
      }),
    );
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe('unavailable');
    // The in-flight snapshot still completes, then close() finishes.
    const text = await snapshot.text();
    expect(text.trim().split('\n').at(-1)).toBe('{"end":true,"rowCount":2}');
    await closing;
    expect(dumpState(t.dbPath)).toBe(before);
    await t.close();
  });
});

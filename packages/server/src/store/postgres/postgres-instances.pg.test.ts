import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { PullResponseSchema, PushResponseSchema, bundleDigest, type Bundle } from '@ferry/protocol';
import { pushBody, todo } from '../../test-support/harness.js';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  testSchemas,
} from './test-support/pg-test-database.js';
import { openEvents, startPgServer, type PgTestServer } from './test-support/pg-test-server.js';
import { hostPortOf, startTcpProxy, throughPort } from './test-support/tcp-proxy.js';

const ALICE = 'alice';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function twoInstances() {
  const schemas = testSchemas();
  cleanups.push(() => schemas.drop());
  const one = await startPgServer(schemas);
  cleanups.push(() => one.close());
  const two = await startPgServer(schemas);
  cleanups.push(() => two.close());
  return { schemas, one, two };
}

async function pushOk(server: PgTestServer, user: string, body: unknown) {
  const response = await server.request('/v1/push', { method: 'POST', user, json: body });
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return PushResponseSchema.parse(JSON.parse(text));
}

async function pullAll(server: PgTestServer, user: string): Promise<Bundle[]> {
  const bundles: Bundle[] = [];
  let after = 0;
  for (;;) {
    const response = await server.request(`/v1/pull?after=${after}&limit=1000`, { user });
    expect(response.status).toBe(200);
    const page = PullResponseSchema.parse(await response.json());
    bundles.push(...page.bundles);
    after = page.bundles.at(-1)?.bundleSeq ?? after;
    if (!page.hasMore) return bundles;
  }
}

describePg('several server instances on one PostgreSQL database', () => {
  it('pokes an event stream of instance 2 when a push commits through instance 1, and instance 2 serves the pull', async () => {
    const { one, two } = await twoInstances();
    const events = await openEvents(two.url, ALICE);
    cleanups.push(() => events.close());
    await events.waitFor('retry: 3000');

    const source = randomUUID();
    const list = todo.list();
    const changes = [list, todo.item(list.pk as string)];
    const pushed = await pushOk(one, ALICE, pushBody(source, 1, changes));
    expect(pushed.bundleSeq).toBe(1);
    await events.waitFor('event: poke\ndata: {"bundleSeq":1}');

    const pulled = await pullAll(two, ALICE);
    expect(pulled).toEqual([
      {
        bundleSeq: 1,
        sourceId: source,
        sourceBundleId: 1,
        rows: pushed.rows,
        token: pushed.token,
        digest: bundleDigest(changes),
      },
    ]);
    // The same push replayed through the other instance gets the identical answer.
    const replay = await two.request('/v1/push', {
      method: 'POST',
      user: ALICE,
      json: pushBody(source, 1, changes),
    });
    expect(PushResponseSchema.parse(await replay.json())).toEqual(pushed);
  });

  it('shows a row changed by plain SQL in the next pull through either instance, and pokes both', async () => {
    const { schemas, one, two } = await twoInstances();
    const list = todo.list();
    await pushOk(one, ALICE, pushBody(randomUUID(), 1, [list]));
    const eventsOne = await openEvents(one.url, ALICE);
    const eventsTwo = await openEvents(two.url, ALICE);
    cleanups.push(
      () => eventsOne.close(),
      () => eventsTwo.close(),
    );

    await adminQuery(
      `UPDATE "${schemas.business}".lists SET name = 'changed by psql' WHERE id = $1`,
      [list.pk],
    );
    await eventsOne.waitFor('{"bundleSeq":2}');
    await eventsTwo.waitFor('{"bundleSeq":2}');
    for (const server of [one, two]) {
      const bundles = await pullAll(server, ALICE);
      expect(bundles[1]).toMatchObject({
        bundleSeq: 2,
        sourceId: null,
        sourceBundleId: null,
        rows: [
          {
            table: 'lists',
            pk: list.pk,
            op: 'upsert',
            rowVersion: 2,
            row: { name: 'changed by psql' },
          },
        ],
      });
    }
  });

  it('listens again after its LISTEN connection is cut, so pokes flow again', async () => {
    const { schemas, one, two } = await twoInstances();
    const events = await openEvents(two.url, ALICE);
    cleanups.push(() => events.close());
    await events.waitFor('retry: 3000');
    const killed = await adminQuery(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name = $1`,
      [`ferry-listen:${schemas.meta}`],
    );
    expect(killed[0]!.n).toBe(2);
    // A poke sent while the listener is away is lost (clients catch up by their periodic
    // sync); keep committing until one gets through the new LISTEN.
    const source = randomUUID();
    const deadline = Date.now() + 10_000;
    for (let id = 1; ; id++) {
      await pushOk(one, ALICE, pushBody(source, id, [todo.list()]));
      try {
        await events.waitFor(`{"bundleSeq":${id}}`, 300);
        break;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  });

  it('fails /healthz and answers 503 with Retry-After while the database is unreachable, then recovers without a restart', async () => {
    const proxy = await startTcpProxy(hostPortOf(DATABASE_URL));
    cleanups.push(() => proxy.close());
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const server = await startPgServer(schemas, {
      store: {
        connectionString: throughPort(DATABASE_URL, proxy.port),
        pingTimeoutMs: 1_000,
        pool: { max: 4, connectionTimeoutMillis: 1_000 },
      },
    });
    cleanups.push(() => server.close());
    const source = randomUUID();
    expect((await server.request('/healthz')).status).toBe(200);
    await pushOk(server, ALICE, pushBody(source, 1, [todo.list()]));

    proxy.cut();
    const health = await server.request('/healthz');
    expect(health.status).toBe(503);
    expect(health.headers.get('retry-after')).toBeTruthy();
    for (const [path, init] of [
      ['/v1/push', { method: 'POST', json: pushBody(source, 2, [todo.list()]) }],
      ['/v1/pull?after=0', {}],
      ['/v1/snapshot', {}],
      ['/v1/events', {}],
    ] as const) {
      const response = await server.request(path, { ...init, user: ALICE });
      expect(response.status, path).toBe(503);
      expect(response.headers.get('retry-after'), path).toBe('5');
      const body = (await response.json()) as { error: { code: string; message: string } };
      expect(body.error.code).toBe('unavailable');
      expect(body.error.message).not.toContain(String(proxy.port));
    }

    proxy.restore();
    expect((await server.request('/healthz')).status).toBe(200);
    const pushed = await pushOk(server, ALICE, pushBody(source, 2, [todo.list()]));
    expect(pushed.bundleSeq).toBe(2);
    expect((await pullAll(server, ALICE)).map((b) => b.bundleSeq)).toEqual([1, 2]);
  });
});

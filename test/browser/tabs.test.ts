import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { vi } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { serverRows, startHarness, type Harness } from '../support/ferry-harness.js';
import { browserBundle } from './support/browser-bundle.js';
import { chromiumAvailable, launchChromium, profileDir } from './support/chromium.js';
import { startPageClient, type PageClient } from './support/page-client.js';
import { serverBundles } from './support/server-bundles.js';
import { serveStatic, type StaticServer } from './support/static-server.js';

function until(check: () => unknown, timeout = 15_000): Promise<void> {
  return vi.waitFor(async () => void (await check()), { timeout, interval: 50 });
}

describe.runIf(chromiumAvailable)('many tabs of one origin, one sync', () => {
  let harness: Harness;
  let site: StaticServer;
  let profile: ReturnType<typeof profileDir>;
  let context: BrowserContext;
  /** Requests to the sync server, by the page that made them. */
  const requests = new Map<Page, string[]>();

  beforeAll(async () => {
    harness = await startHarness({ server: { cors: { origins: '*' } } });
    site = await serveStatic(await browserBundle());
    profile = profileDir();
    context = await launchChromium(profile.path);
    context.on('request', (request) => {
      const url = new URL(request.url());
      if (url.origin !== new URL(harness.url).origin || request.method() === 'OPTIONS') return;
      const page = request.frame().page();
      requests.set(page, [...(requests.get(page) ?? []), `${request.method()} ${url.pathname}`]);
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await site?.close();
    profile?.remove();
    await harness?.close();
  });

  async function openTab(options: {
    name: string;
    token: string;
  }): Promise<{ page: Page; client: PageClient }> {
    const page = await context.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => 'ferryTest' in window);
    const client = await startPageClient(page, { ...options, url: harness.url, tabs: true });
    return { page, client };
  }

  it('elect one leader that alone syncs, show a write of any tab in every tab, and hand over to the next tab when the leader closes with a bundle in flight', async () => {
    const userId = `tabs-${randomUUID()}`;
    const options = { name: `tabs-${randomUUID()}`, token: await harness.token(userId) };
    const first = await openTab(options);
    const second = await openTab(options);
    await until(async () =>
      expect([await first.client.role(), await second.client.role()].sort()).toEqual([
        'follower',
        'leader',
      ]),
    );
    const [leader, follower] =
      (await first.client.role()) === 'leader' ? [first, second] : [second, first];

    const titles = 'SELECT title FROM todos ORDER BY title';
    const inLeader = await leader.client.watch(titles);
    const inFollower = await follower.client.watch(titles);
    const listId = randomUUID();
    await follower.client.write([
      { op: 'insert', table: 'lists', row: { id: listId, name: 'Inbox' } },
      {
        op: 'insert',
        table: 'todos',
        row: { id: randomUUID(), list_id: listId, title: 'from the follower' },
      },
    ]);
    await until(async () =>
      expect((await leader.client.results(inLeader)).at(-1)).toEqual([
        { title: 'from the follower' },
      ]),
    );
    await leader.client.write([
      {
        op: 'insert',
        table: 'todos',
        row: { id: randomUUID(), list_id: listId, title: 'from the leader' },
      },
    ]);
    await until(async () =>
      expect((await follower.client.results(inFollower)).at(-1)).toEqual([
        { title: 'from the follower' },
        { title: 'from the leader' },
      ]),
    );
    // The leader pushed the follower's write as its own.
    await until(async () => expect(await serverRows(harness, userId, 'todos')).toHaveLength(2));
    const byFollower = requests.get(follower.page) ?? [];
    expect(byFollower).toEqual([]);
    const byLeader = requests.get(leader.page) ?? [];
    expect(byLeader.filter((r) => r === 'GET /v1/events')).toHaveLength(1);
    // The events stream works from another origin (its headers pass the CORS preflight).
    expect(await leader.client.status()).toMatchObject({ realtime: 'connected' });
    expect(byLeader.some((r) => r === 'POST /v1/sync' || r === 'POST /v1/push')).toBe(true);
    await until(async () =>
      expect(await follower.client.status()).toMatchObject({ pending: 0, inFlight: null }),
    );
    const committedBefore = serverBundles(harness, userId).length;

    // The leader's next push reaches the server and commits, but its answer never comes back.
    await leader.page.route(`${harness.url}/v1/**`, async (route) => {
      if (route.request().method() !== 'POST') return route.continue();
      await route.fetch();
      // No answer: the bundle stays in flight in the database.
    });
    await leader.client.write([
      {
        op: 'insert',
        table: 'todos',
        row: { id: randomUUID(), list_id: listId, title: 'in flight' },
      },
    ]);
    await until(async () =>
      expect(serverBundles(harness, userId)).toHaveLength(committedBefore + 1),
    );
    expect((await follower.client.status()).inFlight).toMatchObject({ changes: 1 });

    const closedAt = performance.now();
    await leader.page.close();
    await until(async () => expect(await follower.client.role()).toBe('leader'), 5_000);
    // Measured, not asserted (no test asserts on time): how long the tab took to lead.
    console.log(
      `takeover after the leader's tab closed: ${Math.round(performance.now() - closedAt)} ms`,
    );
    await until(async () =>
      expect(await follower.client.status()).toMatchObject({ pending: 0, inFlight: null }),
    );
    // The new leader sent the frozen bundle again and the server answered with its first
    // commit: three todos, and no bundle twice.
    expect((await serverRows(harness, userId, 'todos')).map((t) => t['title']).sort()).toEqual([
      'from the follower',
      'from the leader',
      'in flight',
    ]);
    const bundles = serverBundles(harness, userId);
    expect(bundles).toHaveLength(committedBefore + 1);
    const pushes = bundles.map((b) => b.sourceBundleId).filter((id) => id !== null);
    expect(new Set(pushes).size).toBe(pushes.length);
    expect((requests.get(follower.page) ?? []).filter((r) => r === 'GET /v1/events')).toHaveLength(
      1,
    );
    await follower.client.close();
  }, 90_000);
});

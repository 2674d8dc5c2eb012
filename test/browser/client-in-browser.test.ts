import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { serverRows, startHarness, type Harness } from '../support/ferry-harness.js';
import { browserBundle } from './support/browser-bundle.js';
import { chromiumAvailable, launchChromium, profileDir } from './support/chromium.js';
import { startPageClient } from './support/page-client.js';
import { serverBundles } from './support/server-bundles.js';
import { serveStatic, type StaticServer } from './support/static-server.js';
import { pushAll, todoBundles } from '../../bench/support/todo-server.js';

describe.runIf(chromiumAvailable)('the Ferry client in Chromium, over HTTP', () => {
  let harness: Harness;
  let site: StaticServer;
  let profile: ReturnType<typeof profileDir>;
  let context: BrowserContext;

  async function openPage(): Promise<Page> {
    const page = await context.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => 'ferryTest' in window);
    return page;
  }

  beforeAll(async () => {
    // The page is served from another origin than the sync server, as a web app often is.
    harness = await startHarness({ server: { cors: { origins: '*' } } });
    site = await serveStatic(await browserBundle());
    profile = profileDir();
    context = await launchChromium(profile.path);
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    await site?.close();
    profile?.remove();
    await harness?.close();
  });

  it('keeps writes made while the server is down across a reload and pushes them once when it is back', async () => {
    const userId = `browser-${randomUUID()}`;
    const options = {
      name: `app-${randomUUID()}`,
      url: harness.url,
      token: await harness.token(userId),
    };
    const listId = randomUUID();
    const todo = (title: string) => ({
      op: 'insert' as const,
      table: 'todos',
      row: { id: randomUUID(), list_id: listId, title },
    });

    const page = await openPage();
    let client = await startPageClient(page, options);
    expect((await client.status()).storage).toBe('opfs');
    await client.write([
      { op: 'insert', table: 'lists', row: { id: listId, name: 'Inbox' } },
      todo('online'),
    ]);
    expect(await client.sync()).toMatchObject({ pushed: 2 });
    expect(await serverRows(harness, userId, 'todos')).toHaveLength(1);

    await harness.stopServer();
    await client.write([todo('offline 1')]);
    await client.write([todo('offline 2')]);
    await expect(client.sync()).rejects.toThrow();
    // The failed push froze both writes into the bundle in flight.
    expect(await client.status()).toMatchObject({ pending: 0, inFlight: { changes: 2 } });

    // The page goes away with the writes only in its database.
    await page.reload();
    await page.waitForFunction(() => 'ferryTest' in window);
    client = await startPageClient(page, options);
    expect(await client.status()).toMatchObject({ pending: 0, inFlight: { changes: 2 } });
    expect(await client.query<{ title: string }>('SELECT title FROM todos ORDER BY title')).toEqual(
      [{ title: 'offline 1' }, { title: 'offline 2' }, { title: 'online' }],
    );

    await harness.startServer();
    expect(await client.sync()).toMatchObject({ pushed: 2 });
    expect((await serverRows(harness, userId, 'todos')).map((row) => row['title']).sort()).toEqual([
      'offline 1',
      'offline 2',
      'online',
    ]);
    await client.sync();
    // One bundle per push: the reload sent nothing twice.
    expect(serverBundles(harness, userId)).toHaveLength(2);
    expect(await client.status()).toMatchObject({ pending: 0, inFlight: null });
    await client.close();
    await page.close();
  });

  it('hydrates 100,000 todos while the page’s own thread keeps running (SQL in the worker)', async () => {
    const userId = `big-${randomUUID()}`;
    const token = await harness.token(userId);
    const rows = Number(process.env['FERRY_BROWSER_HYDRATE_ROWS'] ?? 100_000);
    await pushAll(harness.url, token, todoBundles(rows, 5_000));
    const page = await openPage();
    const client = await startPageClient(page, {
      name: `big-${randomUUID()}`,
      url: harness.url,
      token,
    });
    const watched = await client.syncWatched();
    console.log(`browser hydrate of ${rows} todos: ${JSON.stringify(watched)}`);
    expect(watched).toMatchObject({ hydrated: true });
    expect(await client.query('SELECT count(*) AS n FROM todos')).toEqual([{ n: rows }]);
    // The page's timer ran all along: the thread was never held for the whole hydration.
    expect(watched.ticks).toBeGreaterThan(5);
    expect(watched.longestGapMs).toBeLessThan(watched.durationMs);
    await client.close();
    await page.close();
  }, 180_000);
});

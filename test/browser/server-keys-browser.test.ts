/**
 * Keys the server assigns in a real web app: the client runs in Chromium on wa-sqlite (OPFS) in a
 * worker, inserts a project under a temporary key with tasks referencing it, and after one sync
 * every row has its server key, a live query shows it, and the key map survives a reload.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext } from 'playwright-core';
import { serverRows, startHarness, type Harness } from '../support/ferry-harness.js';
import { projectSchema, type ProjectSchema } from '../support/project-schema.js';
import { browserBundle } from './support/browser-bundle.js';
import { chromiumAvailable, launchChromium, profileDir } from './support/chromium.js';
import { startPageClient } from './support/page-client.js';
import { serveStatic, type StaticServer } from './support/static-server.js';

describe.runIf(chromiumAvailable)('keys the server assigns, in Chromium on wa-sqlite', () => {
  let harness: Harness<ProjectSchema>;
  let site: StaticServer;
  let profile: ReturnType<typeof profileDir>;
  let context: BrowserContext;

  beforeAll(async () => {
    harness = await startHarness<ProjectSchema>({
      schema: projectSchema,
      server: { cors: { origins: '*' } },
    });
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

  it('rows inserted under temporary keys take the server keys in one sync, a live query shows them, and the map survives a reload', async () => {
    const userId = `keys-${randomUUID()}`;
    const options = {
      name: `keys-${randomUUID()}`,
      url: harness.url,
      token: await harness.token(userId),
      schema: 'projects' as const,
    };
    const page = await context.newPage();
    await page.goto(site.url);
    await page.waitForFunction(() => 'ferryTest' in window);
    let client = await startPageClient(page, options);
    const watch = await client.watch('SELECT DISTINCT project_id FROM tasks ORDER BY project_id');
    const temp = await client.insertTree('garden');
    expect(temp).toBeLessThan(0);
    await client.sync();

    const real = await client.resolveKey('projects', temp);
    expect(real).toBeGreaterThan(0);
    expect(await client.query('SELECT id, name FROM projects')).toEqual([
      { id: real, name: 'garden' },
    ]);
    await expect
      .poll(async () => (await client.results<{ project_id: number }>(watch)).at(-1))
      .toEqual([{ project_id: real }]);
    const tasks = await serverRows(harness, userId, 'tasks');
    expect(tasks.map((t) => `${String(t['project_id'])} ${String(t['title'])}`).sort()).toEqual([
      `${real} garden/1`,
      `${real} garden/2`,
    ]);
    expect((await client.status()).pending).toBe(0);

    await page.reload();
    await page.waitForFunction(() => 'ferryTest' in window);
    client = await startPageClient(page, options);
    expect(await client.resolveKey('projects', temp)).toBe(real);
    await client.close();
    await page.close();
  });
});

/**
 * The todo web app (examples/todo-web), built and served by the sync server as `ferry serve`
 * serves it, driven in real Chromium through its accessible names only: two browsers are two
 * devices of one user.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer, createSqliteStore, type FerryServer } from '@ferry/server';
import { defaultWebAppDir, webAppHandler } from '../../packages/cli/src/commands/web-app.js';
import { chromiumAvailable, launchChromium, profileDir } from './support/chromium.js';

const SECRET = 'todo-web-test-secret-of-32-bytes!!';

describe.runIf(chromiumAvailable)('the todo web app in Chromium', () => {
  let dir: string;
  let server: FerryServer;
  let url: string;
  const browsers: { context: BrowserContext; profile: ReturnType<typeof profileDir> }[] = [];

  beforeAll(async () => {
    const app = defaultWebAppDir();
    if (app === undefined || !existsSync(app)) {
      throw new Error('examples/todo-web is not built: run `npm run build` first');
    }
    dir = mkdtempSync(join(tmpdir(), 'ferry-todo-web-'));
    server = await createFerryServer({
      schema: todoSchema,
      store: createSqliteStore({ path: join(dir, 'server.db') }),
      auth: { jwtSecret: SECRET },
      logger: false,
      app: webAppHandler({ dir: app, devSecret: SECRET }),
    });
    ({ url } = await server.listen({ host: '127.0.0.1', port: 0 }));
  }, 60_000);

  afterAll(async () => {
    for (const { context, profile } of browsers) {
      await context.close();
      profile.remove();
    }
    await server?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** A device: its own browser and profile, signed in as `user`. */
  async function device(user: string): Promise<Page> {
    const profile = profileDir();
    const context = await launchChromium(profile.path);
    browsers.push({ context, profile });
    const page = await context.newPage();
    page.on('pageerror', (error) => console.error(`[${user} page]`, error));
    await page.goto(url);
    await page.getByLabel('User').fill(user);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('status').waitFor();
    return page;
  }

  const todo = (page: Page, title: string | RegExp) => page.getByRole('listitem', { name: title });

  it('syncs two devices, keeps edits of different fields, and shows a conflict of one field until it is resolved', async () => {
    const a = await device('ann');
    const b = await device('ann');

    await a.getByLabel('New list').fill('Groceries');
    await a.getByRole('button', { name: 'Add list' }).click();
    // A new list is selected on the device that added it.
    await a.getByLabel('New todo').fill('milk');
    await a.getByRole('button', { name: 'Add todo' }).click();
    await expect.poll(() => todo(a, 'milk').count()).toBe(1);
    await expect
      .poll(() => a.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Synced');

    await b.getByRole('button', { name: 'Groceries', exact: true }).click({ timeout: 15_000 });
    await todo(b, 'milk').waitFor({ timeout: 15_000 });
    await expect
      .poll(() => b.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Synced');

    // Both offline; A checks the todo, B renames it: different fields.
    await a.getByLabel('Work offline').check();
    await b.getByLabel('Work offline').check();
    await todo(a, 'milk').getByRole('checkbox', { name: 'milk' }).check();
    await todo(b, 'milk').getByRole('button', { name: 'Rename milk' }).click();
    await b.getByLabel('New name for milk').fill('oat milk');
    await b.getByRole('button', { name: 'Save' }).click();
    // The rename is in B's file (its live query shows it) before the counts are read.
    await todo(b, 'oat milk').waitFor({ timeout: 15_000 });
    await expect.poll(() => a.getByRole('status').textContent()).toBe('Offline — 1 change waiting');
    await expect.poll(() => b.getByRole('status').textContent()).toBe('Offline — 1 change waiting');

    await a.getByLabel('Work offline').uncheck();
    await expect
      .poll(() => a.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Synced');
    await b.getByLabel('Work offline').uncheck();
    await expect
      .poll(() => b.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Synced');
    // Both edits are kept on both devices: the title from B, the check from A.
    for (const page of [a, b]) {
      await expect
        .poll(
          () => todo(page, 'oat milk').getByRole('checkbox', { name: 'oat milk' }).isChecked(),
          {
            timeout: 15_000,
          },
        )
        .toBe(true);
    }

    // Both offline again; both rename it: the same field.
    await a.getByLabel('Work offline').check();
    await b.getByLabel('Work offline').check();
    for (const [page, title] of [
      [a, 'whole milk'],
      [b, 'skim milk'],
    ] as const) {
      await todo(page, 'oat milk').getByRole('button', { name: 'Rename oat milk' }).click();
      await page.getByLabel('New name for oat milk').fill(title);
      await page.getByRole('button', { name: 'Save' }).click();
    }
    await a.getByLabel('Work offline').uncheck();
    await expect
      .poll(() => a.getByRole('status').textContent(), { timeout: 15_000 })
      .toBe('Synced');
    await b.getByLabel('Work offline').uncheck();
    // B pushed second: its rename conflicts and waits in the Conflicts panel with both values.
    const conflicts = b.getByRole('region', { name: 'Conflicts' });
    await conflicts.getByRole('button', { name: 'Keep mine' }).waitFor({ timeout: 15_000 });
    await expect.poll(() => conflicts.textContent()).toContain('skim milk');
    await expect.poll(() => conflicts.textContent()).toContain('whole milk');
    await conflicts.getByRole('button', { name: 'Keep mine' }).click();
    await expect.poll(() => conflicts.getByRole('button', { name: 'Keep mine' }).count()).toBe(0);
    for (const page of [a, b]) {
      await todo(page, 'skim milk').waitFor({ timeout: 15_000 });
    }
  }, 120_000);
});

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { describeDriverConformance } from '../../packages/client/src/drivers/test-support/driver-conformance.js';
import { browserBundle } from './support/browser-bundle.js';
import { chromiumAvailable, launchChromium, profileDir } from './support/chromium.js';
import { openPageDriver } from './support/page-driver.js';
import { serveStatic, type StaticServer } from './support/static-server.js';

/** One Chromium (one profile) with the test page open, shared by the suites of this file. */
const browser: {
  site?: StaticServer;
  profile?: ReturnType<typeof profileDir>;
  context?: BrowserContext;
  page?: Page;
} = {};

async function openPage(): Promise<Page> {
  const page = await browser.context!.newPage();
  await page.goto(browser.site!.url);
  await page.waitForFunction(() => 'ferryTest' in window);
  return page;
}

describe.runIf(chromiumAvailable)('wa-sqlite in a Chromium worker', () => {
  beforeAll(async () => {
    browser.site = await serveStatic(await browserBundle());
    browser.profile = profileDir();
    browser.context = await launchChromium(browser.profile.path);
    browser.page = await openPage();
  }, 60_000);

  afterAll(async () => {
    await browser.context?.close();
    await browser.site?.close();
    browser.profile?.remove();
  });

  for (const storage of ['opfs', 'indexeddb'] as const) {
    describeDriverConformance(`wa-sqlite on ${storage} in Chromium`, () =>
      openPageDriver(browser.page!, `conformance-${randomUUID()}`, storage),
    );
  }

  it('picks OPFS by itself in a dedicated worker', async () => {
    const driver = await openPageDriver(browser.page!, `auto-${randomUUID()}`);
    expect(driver.storage).toBe('opfs');
    await driver.close();
  });

  for (const storage of ['opfs', 'indexeddb'] as const) {
    it(`keeps a database on ${storage} across a reload and a browser restart`, async () => {
      const name = `kept-${randomUUID()}`;
      const first = await openPageDriver(browser.page!, name, storage);
      await first.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)');
      await first.batch([
        { sql: 'INSERT INTO t (v) VALUES (?)', params: ['before reload'] },
        { sql: 'INSERT INTO t (v) VALUES (?)', params: ['also kept'] },
      ]);
      // A reload ends the page and its worker without closing the database.
      await browser.page!.reload();
      await browser.page!.waitForFunction(() => 'ferryTest' in window);
      const second = await openPageDriver(browser.page!, name, storage);
      expect(await second.all('SELECT v FROM t ORDER BY id')).toEqual([
        { v: 'before reload' },
        { v: 'also kept' },
      ]);
      await second.run('INSERT INTO t (v) VALUES (?)', ['before restart']);

      await browser.context!.close();
      browser.context = await launchChromium(browser.profile!.path);
      browser.page = await openPage();
      const third = await openPageDriver(browser.page, name, storage);
      expect(await third.all('SELECT count(*) AS n FROM t')).toEqual([{ n: 3 }]);
      await third.close();
    });
  }
});

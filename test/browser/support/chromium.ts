/**
 * Real Chromium for the browser tests: Debian's `/usr/bin/chromium` driven by playwright-core,
 * with a fresh profile directory per browser (reused to restart a browser on the same profile).
 * Without Chromium the suites skip, except under `CI=true`, where they fail.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM_PATH = process.env['CHROMIUM_PATH'] ?? '/usr/bin/chromium';

/** Whether the browser suites run: Chromium is installed, or CI demands them. */
export const chromiumAvailable = existsSync(CHROMIUM_PATH) || process.env['CI'] === 'true';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
];

/** A profile directory; `remove()` deletes it. */
export function profileDir(): { readonly path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'ferry-chromium-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Chromium on the profile at `dir` (one browser, one context: a device). */
export function launchChromium(dir: string): Promise<BrowserContext> {
  return chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ARGS,
  });
}

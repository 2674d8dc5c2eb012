import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { webAppHandler } from './web-app.js';

describe('what ferry serve answers outside the sync API', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-web-app-'));
    writeFileSync(join(dir, 'index.html'), '<!doctype html><title>app</title>');
    mkdirSync(join(dir, 'assets'));
    writeFileSync(join(dir, 'assets', 'app-1234.js'), 'console.log(1)');
    writeFileSync(join(dir, '..', 'secret.txt'), 'not served');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(join(dir, '..', 'secret.txt'), { force: true });
  });

  const get = (handler: (r: Request) => Promise<Response>, path: string, init?: RequestInit) =>
    handler(new Request(`http://127.0.0.1:8787${path}`, init));

  it('serves the app’s files, its page for the app’s own routes, and nothing outside it', async () => {
    const handler = webAppHandler({ dir, devSecret: undefined });
    const page = await get(handler, '/');
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('cache-control')).toBe('no-cache');
    const asset = await get(handler, '/assets/app-1234.js');
    expect(asset.headers.get('content-type')).toMatch(/javascript/);
    expect(asset.headers.get('cache-control')).toMatch(/immutable/);
    expect(await (await get(handler, '/lists/42')).text()).toContain('<title>app</title>');
    expect((await get(handler, '/assets/missing.js')).status).toBe(404);
    expect((await get(handler, '/%2e%2e/secret.txt')).status).toBe(404);
    expect((await get(handler, '/%E0%A4%A')).status).toBe(404);
    expect((await get(handler, '/', { method: 'POST' })).status).toBe(405);
  });

  it('signs a development token for a user name only in development mode', async () => {
    const secret = 'dev-secret-of-at-least-32-bytes!!!';
    const dev = webAppHandler({ dir, devSecret: secret });
    const answer = await get(dev, '/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'ann' }),
    });
    expect(answer.status).toBe(200);
    const { token, userId } = (await answer.json()) as { token: string; userId: string };
    expect(userId).toBe('ann');
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as {
      sub: string;
    };
    expect(claims.sub).toBe('ann');
    const bad = await get(dev, '/dev/token', {
      method: 'POST',
      body: JSON.stringify({ userId: '../x' }),
    });
    expect(bad.status).toBe(400);
    expect((await get(dev, '/dev/token')).status).toBe(405);

    const production = webAppHandler({ dir, devSecret: undefined });
    const refused = await get(production, '/dev/token', {
      method: 'POST',
      body: JSON.stringify({ userId: 'ann' }),
    });
    expect(refused.status).toBe(404);
  });
});

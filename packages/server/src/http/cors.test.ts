import { randomUUID } from 'node:crypto';
import { todoSchema } from '@ferry/example-todo';
import { CLIENT_REQUEST_HEADERS } from '@ferry/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import { signToken } from '../auth.js';
import { createFerryServer, type FerryServer } from '../ferry-server.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';

const SECRET = 'cors-test-secret';
const APP = 'https://app.example.com';
let server: FerryServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function start(): Promise<string> {
  server = await createFerryServer({
    schema: todoSchema,
    store: createSqliteStore({ path: ':memory:' }),
    auth: { jwtSecret: SECRET },
    cors: { origins: [APP] },
    logger: false,
  });
  return (await server.listen({ host: '127.0.0.1', port: 0 })).url;
}

describe('CORS', () => {
  it('answers the preflight of an allowed origin with the methods and headers a client sends', async () => {
    const url = await start();
    const response = await fetch(`${url}/v1/push`, {
      method: 'OPTIONS',
      headers: {
        origin: APP,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization, content-type',
      },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    expect(response.headers.get('access-control-allow-methods')).toContain('POST');
    // Every header a client may send (the events stream's cache-control included), so that no
    // browser request of a client fails its preflight.
    const allowed = response.headers
      .get('access-control-allow-headers')!
      .split(',')
      .map((name) => name.trim());
    expect(allowed).toEqual(expect.arrayContaining([...CLIENT_REQUEST_HEADERS]));
  });

  it('exposes the correlation headers to an allowed origin, and nothing to another one', async () => {
    const url = await start();
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const push = (origin: string) =>
      fetch(`${url}/v1/push`, {
        method: 'POST',
        headers: { origin, authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({
          protocol: 1,
          sourceId: randomUUID(),
          sourceBundleId: 1,
          changes: [],
        }),
      });
    const allowed = await push(APP);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('access-control-allow-origin')).toBe(APP);
    expect(allowed.headers.get('access-control-expose-headers')).toContain('x-ferry-bundle-seq');

    const other = await push('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();
    const preflight = await fetch(`${url}/v1/push`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('lets an allowed origin open the event stream with its token in the query', async () => {
    const url = await start();
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const controller = new AbortController();
    const response = await fetch(`${url}/v1/events?access_token=${token}`, {
      headers: { origin: APP },
      signal: controller.signal,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('access-control-allow-origin')).toBe(APP);
    controller.abort();
  });
});

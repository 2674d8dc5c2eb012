import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError, PROTOCOL_ERRORS, type ProtocolErrorCode } from '@ferry/protocol';
import { Transport, parseRetryAfter } from './transport.js';

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

describe('Transport over real HTTP', () => {
  let server: Server;
  let url: string;
  let handler: Handler = (_req, res) => res.end('{}');
  beforeAll(async () => {
    server = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const transport = (timeoutMs = 2000, base = url) =>
    new Transport({ url: base, fetch: globalThis.fetch, getToken: () => 'tok', timeoutMs });

  const failure = (promise: Promise<unknown>) =>
    promise.then(
      () => {
        throw new Error('expected a failure');
      },
      (error: unknown) => {
        expect(error).toBeInstanceOf(FerryError);
        return error as FerryError;
      },
    );

  it('sends the bearer token and JSON, and returns the parsed answer', async () => {
    let seen: { auth: string | undefined; type: string | undefined; body: string } | undefined;
    handler = (req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        seen = { auth: req.headers.authorization, type: req.headers['content-type'], body };
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    };
    expect(await transport().postJson('/v1/push', { a: 1 })).toEqual({ ok: true });
    expect(seen).toEqual({ auth: 'Bearer tok', type: 'application/json', body: '{"a":1}' });
  });

  it.each(Object.entries(PROTOCOL_ERRORS) as [ProtocolErrorCode, number][])(
    'turns a %s answer into a FerryError with its code and status',
    async (code, status) => {
      handler = (_req, res) => {
        res.statusCode = status;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ error: { code, message: `it is ${code}`, details: { x: 1 } } }));
      };
      const error = await failure(transport().getJson('/v1/pull'));
      expect(error).toMatchObject({ code, status, message: `it is ${code}` });
      expect(error.details).toMatchObject({ x: 1 });
    },
  );

  it('carries Retry-After and the correlation id in the details', async () => {
    handler = (_req, res) => {
      res.statusCode = 503;
      res.setHeader('retry-after', '7');
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }));
    };
    const error = await failure(transport().postJson('/v1/sync', {}, { correlationId: 'src:3' }));
    expect(error.details).toEqual({ retryAfterSeconds: 7, correlationId: 'src:3' });
    handler = (_req, res) => {
      res.statusCode = 429;
      res.setHeader('x-request-id', 'req-42');
      res.end(JSON.stringify({ error: { code: 'rate_limited', message: 'slow down' } }));
    };
    expect((await failure(transport().getJson('/v1/pull'))).details).toEqual({
      correlationId: 'req-42',
    });
  });

  it('keeps the conflicts of a 409 in the details', async () => {
    const conflicts = [
      {
        index: 0,
        table: 't',
        pk: 'x',
        op: 'upsert',
        baseVersion: 1,
        serverVersion: 2,
        serverDeleted: false,
        serverRow: {},
      },
    ];
    handler = (_req, res) => {
      res.statusCode = 409;
      res.end(
        JSON.stringify({ error: { code: 'conflict', message: '1 change conflicts' }, conflicts }),
      );
    };
    expect((await failure(transport().postJson('/v1/push', {}))).details).toMatchObject({
      conflicts,
    });
  });

  it('reports a non-Ferry error answer (a proxy’s 502) as bad_response with its status', async () => {
    handler = (_req, res) => {
      res.statusCode = 502;
      res.end('<html>bad gateway</html>');
    };
    expect(await failure(transport().getJson('/v1/pull'))).toMatchObject({
      code: 'bad_response',
      status: 502,
    });
  });

  it('reports malformed JSON in a 200 as bad_response', async () => {
    handler = (_req, res) => res.end('{not json');
    expect((await failure(transport().getJson('/v1/pull'))).code).toBe('bad_response');
  });

  it('reports a getToken that throws or returns nothing as unauthorized', async () => {
    const failing = new Transport({
      url,
      fetch: globalThis.fetch,
      getToken: () => {
        throw new Error('no session');
      },
      timeoutMs: 1000,
    });
    expect(await failure(failing.getJson('/v1/pull'))).toMatchObject({
      code: 'unauthorized',
      message: 'getToken failed: no session',
    });
    const empty = new Transport({
      url,
      fetch: globalThis.fetch,
      getToken: () => '',
      timeoutMs: 1000,
    });
    expect((await failure(empty.getJson('/v1/pull'))).code).toBe('unauthorized');
  });

  it('reports a refused connection as network', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    expect(
      (await failure(transport(2000, `http://127.0.0.1:${port}`).getJson('/v1/pull'))).code,
    ).toBe('network');
  });

  it('reports a slow answer as timeout and a caller abort as aborted', async () => {
    handler = (_req, res) => {
      setTimeout(() => res.end('{}'), 500).unref();
    };
    expect((await failure(transport(50).getJson('/v1/pull'))).code).toBe('timeout');
    const controller = new AbortController();
    const pending = transport().getJson('/v1/pull', { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect((await failure(pending)).code).toBe('aborted');
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('12')).toBe(12);
    expect(parseRetryAfter(new Date(61_000).toUTCString(), 1_000)).toBe(60);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

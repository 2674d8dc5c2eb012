import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTcpServer, type AddressInfo, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FerryError, PROTOCOL_ERRORS, type ProtocolErrorCode } from '@ferry/protocol';
import { Transport, isClosedConnectionError, parseRetryAfter } from './transport.js';

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

  it('answers a posted bundle with its body, or with the conflicts of a 409 conflict as a value; another 409 still throws', async () => {
    const conflict = {
      index: 0,
      table: 'lists',
      pk: 'a',
      op: 'upsert',
      baseVersion: 1,
      serverVersion: 2,
      serverDeleted: false,
      serverRow: { id: 'a' },
    };
    let answer: { status: number; body: unknown } = { status: 200, body: { bundleSeq: 1 } };
    handler = (_req, res) => {
      res.statusCode = answer.status;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(answer.body));
    };
    expect(await transport().postBundle('/v1/push', '{}')).toEqual({
      kind: 'body',
      body: { bundleSeq: 1 },
    });
    answer = {
      status: 409,
      body: { error: { code: 'conflict', message: 'stale' }, conflicts: [conflict] },
    };
    expect(await transport().postBundle('/v1/push', '{}')).toEqual({
      kind: 'conflicts',
      conflicts: [conflict],
    });
    answer = {
      status: 409,
      body: { error: { code: 'bundle_gap', message: 'gap', details: { lastCommitted: 3 } } },
    };
    const error = await failure(transport().postBundle('/v1/push', '{}'));
    expect(error).toMatchObject({ code: 'bundle_gap', status: 409 });
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

describe('a request on a connection the server has closed', () => {
  /**
   * A server over raw TCP that keeps connections alive (and says so for 60 s), but closes the
   * first one, without an answer, when a second request arrives on it: what a server whose
   * keep-alive timer runs out as the request arrives does. `close`: a FIN ("other side
   * closed"); `reset`: an RST (ECONNRESET).
   */
  async function closingServer(how: 'close' | 'reset') {
    const sockets: Socket[] = [];
    const requests: string[] = [];
    const server = createTcpServer((socket) => {
      const connection = sockets.push(socket);
      let buffered = '';
      let answered = 0;
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        buffered += chunk.toString('latin1');
        for (;;) {
          const headEnd = buffered.indexOf('\r\n\r\n');
          if (headEnd < 0) return;
          const head = buffered.slice(0, headEnd);
          const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
          if (buffered.length < headEnd + 4 + length) return;
          buffered = buffered.slice(headEnd + 4 + length);
          requests.push(`${head.split(' ', 2).join(' ')} on connection ${connection}`);
          if (connection === 1 && answered === 1) {
            if (how === 'reset') socket.resetAndDestroy();
            else socket.destroy();
            return;
          }
          answered++;
          const body = `{"connection":${connection}}`;
          socket.write(
            'HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n' +
              `content-length: ${body.length}\r\nconnection: keep-alive\r\n` +
              `keep-alive: timeout=60\r\n\r\n${body}`,
          );
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const close = async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    };
    return { url, requests, connections: () => sockets.length, close };
  }

  it.each([
    ['close', 'GET'],
    ['close', 'POST'],
    ['reset', 'GET'],
    ['reset', 'POST'],
  ] as const)(
    'is sent once more at once, on a fresh connection, when the server %ss it (%s)',
    async (how, method) => {
      const server = await closingServer(how);
      try {
        const transport = new Transport({
          url: server.url,
          fetch: globalThis.fetch,
          getToken: () => 'tok',
          timeoutMs: 5_000,
        });
        const send = () =>
          method === 'GET' ? transport.getJson('/v1/pull') : transport.postJson('/v1/sync', {});
        expect(await send()).toEqual({ connection: 1 });
        // The connection goes back to the pool, idle and (the server said) alive for 60 s.
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await send()).toEqual({ connection: 2 });
        expect(server.requests).toEqual([
          `${method} /v1/${method === 'GET' ? 'pull' : 'sync'} on connection 1`,
          `${method} /v1/${method === 'GET' ? 'pull' : 'sync'} on connection 1`,
          `${method} /v1/${method === 'GET' ? 'pull' : 'sync'} on connection 2`,
        ]);
      } finally {
        await server.close();
      }
    },
  );

  it('is sent once more only: a second closed connection fails the request as network', async () => {
    const calls: string[] = [];
    const transport = new Transport({
      url: 'http://127.0.0.1:1',
      fetch: (input) => {
        calls.push(input instanceof Request ? input.url : input.toString());
        return Promise.reject(
          new TypeError('fetch failed', {
            cause: Object.assign(new Error('x'), { code: 'EPIPE' }),
          }),
        );
      },
      getToken: () => 'tok',
      timeoutMs: 5_000,
    });
    const error = await transport.getJson('/v1/pull').catch((e: unknown) => e as FerryError);
    expect(error).toMatchObject({ code: 'network' });
    expect(calls).toHaveLength(2);
  });

  it('is not sent again when nothing listens, the server answered, or the caller aborted', async () => {
    const counted = (base: string) => {
      let calls = 0;
      const transport = new Transport({
        url: base,
        fetch: (input, init) => {
          calls++;
          return globalThis.fetch(input, init);
        },
        getToken: () => 'tok',
        timeoutMs: 5_000,
      });
      return { transport, calls: () => calls };
    };
    const gone = createServer();
    await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
    const port = (gone.address() as AddressInfo).port;
    await new Promise((resolve) => gone.close(resolve));
    const refused = counted(`http://127.0.0.1:${port}`);
    await expect(refused.transport.getJson('/v1/pull')).rejects.toMatchObject({ code: 'network' });
    expect(refused.calls()).toBe(1);

    const answering = createServer((_req, res) => {
      res.statusCode = 503;
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'busy' } }));
    });
    await new Promise<void>((resolve) => answering.listen(0, '127.0.0.1', resolve));
    try {
      const answered = counted(`http://127.0.0.1:${(answering.address() as AddressInfo).port}`);
      await expect(answered.transport.getJson('/v1/pull')).rejects.toMatchObject({
        code: 'unavailable',
      });
      expect(answered.calls()).toBe(1);
      const controller = new AbortController();
      controller.abort();
      await expect(
        answered.transport.getJson('/v1/pull', { signal: controller.signal }),
      ).rejects.toMatchObject({ code: 'aborted' });
      expect(answered.calls()).toBe(2);
    } finally {
      answering.closeAllConnections();
      await new Promise((resolve) => answering.close(resolve));
    }
  });

  it.each([
    [
      'undici’s other side closed',
      new TypeError('fetch failed', { cause: code('UND_ERR_SOCKET') }),
      true,
    ],
    ['a reset', new TypeError('fetch failed', { cause: code('ECONNRESET') }), true],
    ['a broken pipe', new TypeError('fetch failed', { cause: code('EPIPE') }), true],
    ['a refused connection', new TypeError('fetch failed', { cause: code('ECONNREFUSED') }), false],
    [
      'a connect timeout',
      new TypeError('fetch failed', { cause: code('UND_ERR_CONNECT_TIMEOUT') }),
      false,
    ],
    ['an abort', new DOMException('aborted', 'AbortError'), false],
    ['a non-error', 'ECONNRESET', false],
  ] as const)('tells %s apart (%#)', (_name, error, closed) => {
    expect(isClosedConnectionError(error)).toBe(closed);
  });
});

function code(value: string): Error {
  return Object.assign(new Error(value), { code: value });
}

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates', () => {
    expect(parseRetryAfter('12')).toBe(12);
    expect(parseRetryAfter(new Date(61_000).toUTCString(), 1_000)).toBe(60);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
  });
});

import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { REDACTED_PATHS } from './logger.js';
import { pushBody, startTestServer, todo, type TestServer } from './test-support/harness.js';

const ALICE = 'alice';
let current: TestServer | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});
async function server(options: Parameters<typeof startTestServer>[0] = {}) {
  current = await startTestServer({ http: true, ...options });
  return current;
}

/** Reads an SSE stream until `until` matches the text so far. */
async function readUntil(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  until: (text: string) => boolean,
) {
  let text = '';
  const decoder = new TextDecoder();
  while (!until(text)) {
    const { done, value } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
  }
  return text;
}

describe('GET /v1/events', () => {
  it('pokes every stream of the user on a push, sends keep-alive comments, and counts streams in /metrics', async () => {
    const t = await server({ events: { heartbeatMs: 40 } });
    const token = await t.token(ALICE);
    const controllers = [new AbortController(), new AbortController()];
    const readers = await Promise.all(
      controllers.map(async (controller, i) => {
        const response = await fetch(
          i === 0 ? `${t.url}/v1/events?access_token=${token}` : `${t.url}/v1/events`,
          {
            headers: i === 0 ? {} : { authorization: `Bearer ${token}` },
            signal: controller.signal,
          },
        );
        expect(response.status).toBe(200);
        expect(response.headers.get('content-type')).toContain('text/event-stream');
        return response.body!.getReader();
      }),
    );
    const metrics = await (await fetch(`${t.url}/metrics`)).text();
    expect(metrics).toMatch(/^ferry_sse_connections 2$/m);

    const response = await t.request('/v1/push', {
      method: 'POST',
      user: ALICE,
      json: pushBody(randomUUID(), 1, [todo.list()]),
    });
    expect(response.status).toBe(200);
    for (const reader of readers) {
      const text = await readUntil(
        reader,
        (s) => s.includes('data: {"bundleSeq":1}') && s.includes(': keep-alive'),
      );
      expect(text).toContain('event: poke\ndata: {"bundleSeq":1}\n\n');
    }
    controllers.forEach((c) => c.abort());
    await expect
      .poll(
        async () =>
          (await (await fetch(`${t.url}/metrics`)).text()).match(
            /^ferry_sse_connections (\d+)$/m,
          )?.[1],
      )
      .toBe('0');
  });

  it('refuses one stream more than the per-user cap with 429, and accepts tokens only as bearer or access_token', async () => {
    const t = await server({ events: { maxConnectionsPerUser: 1 } });
    const token = await t.token(ALICE);
    const controller = new AbortController();
    const first = await fetch(`${t.url}/v1/events`, {
      headers: { authorization: `Bearer ${token}` },
      signal: controller.signal,
    });
    expect(first.status).toBe(200);
    const second = await fetch(`${t.url}/v1/events?access_token=${token}`);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBeTruthy();
    expect((await second.json()) as unknown).toMatchObject({ error: { code: 'rate_limited' } });
    // access_token is for the event stream only.
    expect((await fetch(`${t.url}/v1/pull?access_token=${token}`)).status).toBe(401);
    expect((await fetch(`${t.url}/v1/events?access_token=garbage`)).status).toBe(401);
    controller.abort();
  });

  it('ends event streams when the server shuts down', async () => {
    const t = await server();
    const response = await fetch(`${t.url}/v1/events`, {
      headers: { authorization: `Bearer ${await t.token(ALICE)}` },
    });
    const reader = response.body!.getReader();
    await readUntil(reader, (s) => s.includes('retry:'));
    await t.server.close();
    const rest = await readUntil(reader, () => false);
    expect(rest).toBe('');
  });
});

describe('authentication hook', () => {
  it('takes the user from authenticate(request) and answers 401 when it returns null', async () => {
    const t = await server({
      auth: {
        authenticate: (request) => {
          const user = request.headers.get('x-test-user');
          return user ? { userId: user } : null;
        },
      },
    });
    expect((await fetch(`${t.url}/v1/pull`)).status).toBe(401);
    const pushed = await fetch(`${t.url}/v1/push`, {
      method: 'POST',
      headers: { 'x-test-user': 'carol', 'content-type': 'application/json' },
      body: JSON.stringify(pushBody(randomUUID(), 1, [todo.list()])),
    });
    expect(pushed.status).toBe(200);
    const body = (await pushed.json()) as { rows: { row: { owner_id: string } }[] };
    expect(body.rows[0]!.row.owner_id).toBe('carol');
  });
});

describe('operations endpoints', () => {
  it('answers /healthz and /metrics without a token, with requests, bundles, rows and latency', async () => {
    const t = await server();
    const health = await fetch(`${t.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ ok: true });
    await t.request('/v1/push', {
      method: 'POST',
      user: ALICE,
      json: pushBody(randomUUID(), 1, [todo.list(), todo.list()]),
    });
    await t.request('/v1/pull?after=0', { user: ALICE });
    await t.request('/v1/pull?after=99', { user: ALICE });
    await t.server.write(ALICE, (tx) => tx.upsert('lists', { id: randomUUID(), name: 'backend' }));
    const metrics = await fetch(`${t.url}/metrics`);
    expect(metrics.headers.get('content-type')).toContain('text/plain');
    const text = await metrics.text();
    expect(text).toContain('ferry_http_requests_total{route="push",status="200"} 1');
    expect(text).toContain('ferry_http_requests_total{route="pull",status="410"} 1');
    expect(text).toContain('ferry_bundles_committed_total{origin="push"} 1');
    expect(text).toContain('ferry_bundles_committed_total{origin="backend"} 1');
    expect(text).toMatch(/ferry_bundle_rows_sum 3/);
    expect(text).toMatch(/ferry_push_duration_seconds_count 1/);
    expect(text).toMatch(/ferry_pull_duration_seconds_count 2/);
    expect(text).toContain('ferry_sse_connections 0');
  });

  it('keeps metrics of two servers in one process apart', async () => {
    const a = await startTestServer();
    const b = await startTestServer();
    try {
      await a.request('/v1/pull', { user: ALICE });
      const textA = await a.server.metrics.registry.metrics();
      const textB = await b.server.metrics.registry.metrics();
      expect(textA).toContain('ferry_http_requests_total{route="pull",status="200"} 1');
      expect(textB).not.toContain('route="pull"');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('logs one line per request with user, route, status, duration and bundleSeq, and never a token', async () => {
    const lines: Record<string, unknown>[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString().split('\n').filter(Boolean))
          lines.push(JSON.parse(line) as Record<string, unknown>);
        done();
      },
    });
    const logger = pino({ redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, sink);
    const t = await server({ logger });
    const token = await t.token(ALICE);
    const pushed = await t.request('/v1/push', {
      method: 'POST',
      user: ALICE,
      json: pushBody(randomUUID(), 1, [todo.list()]),
    });
    expect(pushed.headers.get('x-ferry-bundle-seq')).toBe('1');
    await fetch(`${t.url}/v1/pull?after=0&access_token=${token}`, {
      headers: { 'x-request-id': 'req-42' },
    });
    await fetch(`${t.url}/v1/pull`, { headers: { authorization: 'Bearer not.a.token' } });
    logger.info(
      { authorization: `Bearer ${token}`, headers: { authorization: token } },
      'careless caller',
    );
    await expect.poll(() => lines.length).toBeGreaterThanOrEqual(4);
    const requests = lines.filter((l) => l.msg === 'request');
    expect(requests[0]).toMatchObject({
      userId: ALICE,
      route: '/v1/push',
      status: 200,
      bundleSeq: 1,
      method: 'POST',
    });
    expect(typeof requests[0]!.durationMs).toBe('number');
    expect(requests[1]).toMatchObject({ requestId: 'req-42', route: '/v1/pull', status: 401 });
    const all = JSON.stringify(lines);
    expect(all).not.toContain(token);
    expect(all).not.toContain('not.a.token');
    expect(all).not.toContain(token.split('.')[2]);
  });
});

describe('the Node adapter and body limits', () => {
  it('answers 413 for an oversized chunked body, discards the rest only up to a bound, and closes the connection', async () => {
    const t = await server({
      limits: { maxBodyBytes: 1024 },
      connections: { lingerBytes: 1024 * 1024 },
    });
    const { port } = new URL(t.url);
    const token = await t.token(ALICE);
    const socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    let received = '';
    socket.on('data', (chunk: Buffer) => (received += chunk.toString()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.write(
      `POST /v1/push HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`,
    );
    const chunk = 'x'.repeat(4096);
    let sent = 0;
    // Keep sending for up to 64 MiB: the server must answer, then hang up once it has
    // discarded its bound of 1 MiB, long before.
    const sender = (async () => {
      while (!socket.destroyed && sent < 64 * 1024 * 1024) {
        const ok = socket.write(`${chunk.length.toString(16)}\r\n${chunk}\r\n`);
        sent += chunk.length;
        if (!ok)
          await new Promise<void>((resolve) => {
            socket.once('drain', resolve);
            socket.once('close', resolve);
          });
      }
    })().catch(() => undefined);
    socket.on('error', () => undefined);
    await closed;
    await sender;
    expect(received).toMatch(/^HTTP\/1\.1 413/);
    expect(received.toLowerCase()).toContain('connection: close');
    expect(received).toContain('"payload_too_large"');
    expect(sent).toBeLessThan(64 * 1024 * 1024);
  });

  it('refuses a declared Content-Length over the limit before reading the body', async () => {
    const t = await server({ limits: { maxBodyBytes: 1024 } });
    const response = await fetch(`${t.url}/v1/push`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await t.token(ALICE)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(
        pushBody(
          randomUUID(),
          1,
          Array.from({ length: 50 }, () => todo.list()),
        ),
      ),
    });
    expect(response.status).toBe(413);
    // The server keeps serving.
    expect((await fetch(`${t.url}/healthz`)).status).toBe(200);
  });

  it('drains an in-flight request on close before closing the store', async () => {
    // The push is known to be inside the handler once it is authenticated (a fixed wait was
    // too short on a loaded machine: the server stopped listening before it took the request).
    let arrived!: () => void;
    const inHandler = new Promise<void>((resolve) => (arrived = resolve));
    const t = await server({
      auth: {
        authenticate: () => {
          arrived();
          return { userId: ALICE };
        },
      },
    });
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const slow = t.server.write(ALICE, async (tx) => {
      await tx.upsert('lists', { id: randomUUID(), name: 'slow' });
      await gate;
    });
    const pushing = fetch(`${t.url}/v1/push`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await t.token(ALICE)}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(pushBody(randomUUID(), 1, [todo.list()])),
    });
    await inHandler;
    const closing = t.server.close();
    release();
    await slow;
    const response = await pushing;
    expect(response.status).toBe(200);
    expect(((await response.json()) as { bundleSeq: number }).bundleSeq).toBe(2);
    await closing;
  });
});

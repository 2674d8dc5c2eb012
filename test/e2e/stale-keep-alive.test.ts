/**
 * A request on a kept-alive connection that the server closed while the client's event loop was
 * busy: the client sends it once more on a fresh connection, so `sync()` succeeds. The server is
 * a plain `node:http` server with Node's default keep-alive timeout (5 s) in front of the Ferry
 * handler, in this process; the busy loop is a real block of the thread, longer than that.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** Node's default `keepAliveTimeout` of an HTTP server. */
const NODE_KEEP_ALIVE_MS = 5_000;

describe('a sync after the event loop was busy for longer than the server’s keep-alive', () => {
  let h: Harness;
  let plain: Server;
  let url: string;
  beforeEach(async () => {
    h = await startHarness();
    const handler = h.server.handler;
    plain = createServer((req, res) => void serve(handler, req, res));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    plain.closeAllConnections();
    await new Promise((resolve) => plain.close(resolve));
    await h.close();
  });

  it('succeeds: the request that met the closed connection goes out again on a fresh one', async () => {
    expect(plain.keepAliveTimeout).toBe(NODE_KEEP_ALIVE_MS);
    const a = await h.client('a', 'alice', { url });
    const first = uuid();
    await a.write((tx) => tx.insert('lists', { id: first, name: 'before the long apply' }));
    await a.sync(); // leaves idle kept-alive connections in the pool

    // A long apply: the thread is busy past the server's keep-alive, so neither the server's
    // idle timer nor the client's has run when the next sync picks a pooled connection.
    blockEventLoop(NODE_KEEP_ALIVE_MS + 2_000);
    const second = uuid();
    await a.write((tx) => tx.insert('lists', { id: second, name: 'after the long apply' }));
    const report = await a.sync();

    expect(report.pushed).toBe(1);
    expect((await serverRows(h, 'alice', 'lists')).map((row) => row['id']).sort()).toEqual(
      [first, second].sort(),
    );
    expect(await rowsOf(a, 'lists')).toHaveLength(2);
    expect(a.status).toMatchObject({ pending: 0, inFlight: null, lastError: null });
  }, 30_000);
});

/** Blocks this thread (and so its event loop) for `ms`, as a long synchronous apply does. */
function blockEventLoop(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** The Ferry fetch handler behind a plain `node:http` server (whole bodies: no event stream). */
async function serve(
  handler: (request: Request) => Promise<Response>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (typeof value === 'string') headers.set(name, value);
  }
  const response = await handler(
    new Request(`http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`, {
      method: req.method ?? 'GET',
      headers,
      ...(chunks.length > 0 ? { body: Buffer.concat(chunks) } : {}),
    }),
  );
  const body = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, Object.fromEntries(response.headers));
  res.end(body);
}

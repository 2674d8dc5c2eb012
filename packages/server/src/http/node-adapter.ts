import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A fetch-style handler: web `Request` in, `Response` out. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Where a Node adapter listens. */
export interface ListenOptions {
  /** Default 127.0.0.1. */
  readonly host?: string;
  /** Default 8787; 0 picks a free port. */
  readonly port?: number;
}

/** A listening Node HTTP server. */
export interface NodeListener {
  readonly server: Server;
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /**
   * Stops accepting connections, lets the answers being written finish, then closes every
   * connection; resolves when all are gone.
   */
  close(): Promise<void>;
  /** Drops every connection now, busy or not. */
  closeAllConnections(): void;
}

/**
 * Serves a fetch handler with `node:http`. The request body is handed over as a pull-based
 * stream, so a handler that stops reading (a body over the limit) leaves the rest unread; the
 * connection is then closed after the answer instead of draining the body. The response body
 * is written with backpressure and cancelled when the client goes away.
 */
export async function listenNode(
  handler: FetchHandler,
  options: ListenOptions = {},
): Promise<NodeListener> {
  let active = 0;
  let idle: (() => void) | undefined;
  const server = createServer((req, res) => {
    active++;
    void serveOne(handler, req, res).finally(() => {
      active--;
      if (active === 0) idle?.();
    });
  });
  // Long-lived event streams must not be cut by the default request timeout.
  server.requestTimeout = 0;
  const host = options.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8787, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    close() {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        // Let answers being written finish, then drop the keep-alive connections left.
        if (active > 0) await new Promise<void>((resolve) => (idle = resolve));
        server.closeAllConnections();
        await closed;
      })();
      return closing;
    },
    closeAllConnections() {
      server.closeAllConnections();
    },
  };
}

async function serveOne(handler: FetchHandler, req: IncomingMessage, res: ServerResponse) {
  let response: Response;
  const request = toRequest(req);
  try {
    response = await handler(request);
  } catch (error) {
    response = new Response(
      JSON.stringify({ error: { code: 'internal', message: 'internal error' } }),
      { status: 500, headers: { 'content-type': 'application/json' } },
    );
    process.emitWarning(`ferry: handler threw: ${String(error)}`);
  }
  // A body the handler did not read to the end (413) is not drained: answer, then hang up.
  const unread = !req.complete;
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name === 'set-cookie') return;
    headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (unread) headers.connection = 'close';
  res.writeHead(response.status, headers);
  if (unread) {
    req.pause();
    const text = response.body ? await response.text() : '';
    res.end(text, () => req.socket.destroy());
    return;
  }
  if (!response.body) {
    res.end();
    return;
  }
  const reader = response.body.getReader();
  let gone = false;
  res.on('close', () => {
    if (!res.writableFinished) {
      gone = true;
      reader.cancel().catch(() => undefined);
    }
  });
  res.flushHeaders();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || gone || res.destroyed) break;
      if (!res.write(value)) await drainedOrClosed(res);
    }
    if (!gone) res.end();
  } catch {
    res.destroy();
  }
}

/**
 * Waits until `res` can take more data or is gone. A response whose socket already closed
 * emits neither event again, so that case must resolve at once (else the request never ends
 * and a graceful close waits for it forever).
 */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  if (res.destroyed || res.closed || !res.writableNeedDrain) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const finish = () => {
      res.off('drain', finish);
      res.off('close', finish);
      resolve();
    };
    res.on('drain', finish);
    res.on('close', finish);
  });
}

function toRequest(req: IncomingMessage): Request {
  const host = req.headers.host ?? 'localhost';
  let url: URL;
  try {
    url = new URL(req.url ?? '/', `http://${host}`);
  } catch {
    url = new URL(req.url ?? '/', 'http://localhost');
  }
  const headers = new Headers();
  for (const [name, value] of Object.entries(req.headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) headers.append(name, v);
    else headers.set(name, value);
  }
  const method = req.method ?? 'GET';
  const hasBody = method !== 'GET' && method !== 'HEAD';
  const controller = new AbortController();
  req.once('close', () => {
    if (!req.complete) controller.abort();
  });
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal: controller.signal };
  if (hasBody) {
    const iterator = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    init.body = new ReadableStream<Uint8Array>({
      async pull(streamController) {
        try {
          const next = await iterator.next();
          if (next.done) {
            streamController.close();
          } else {
            const chunk = next.value;
            streamController.enqueue(
              new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength),
            );
          }
        } catch (error) {
          streamController.error(error);
        }
      },
      // Stop pulling; never destroy `req` here (that would kill the socket before the answer).
      cancel() {},
    });
    init.duplex = 'half';
  }
  return new Request(url, init);
}

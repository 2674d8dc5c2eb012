import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { FerryError } from '@ferry/protocol';
import { clientErrorAnswer, rawErrorAnswer } from './client-errors.js';
import {
  resolveConnectionOptions,
  type ConnectionOptions,
  type ResolvedConnectionOptions,
} from './connection-options.js';
import { NodeRequestBody } from './node-request-body.js';
import { writeResponse } from './node-response.js';

/** A fetch-style handler: web `Request` in, `Response` out. */
export type FetchHandler = (request: Request) => Promise<Response>;

/** Where a Node adapter listens, and the deadlines of its connections. */
export interface ListenOptions extends ConnectionOptions {
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
   * Stops accepting connections, closes idle ones, lets the answers being written finish for
   * up to `graceMs` (default: as long as they take), then closes every connection, which
   * aborts what is still running; resolves when all are gone.
   */
  close(graceMs?: number): Promise<void>;
  /** Drops every connection now, busy or not. */
  closeAllConnections(): void;
}

/** The reason of a request's signal when its client went away. */
const CLIENT_GONE = () => new FerryError('aborted', 'the client went away');

/** How long handlers get to notice their aborted requests once every connection is closed. */
const SETTLE_MS = 1_000;

/**
 * Serves a fetch handler with `node:http`.
 *
 * 1. Every request carries an `AbortSignal` that aborts the moment its client goes away, at any
 *    point: before the handler returns, while the body is read, while the answer streams. An
 *    answer that does not complete has its body cancelled, so whatever produced it (a store
 *    read, an event stream slot) is released.
 * 2. The request body is a pull-based stream (see {@link NodeRequestBody}); the answer is
 *    written with backpressure (see {@link writeResponse}).
 * 3. An answer given before the body was read (401, 413, 429 …) says `Connection: close`; the
 *    rest of the body is then read and discarded, within bounds, before the connection closes,
 *    so the client reads the answer rather than a reset.
 * 4. Deadlines (see {@link ConnectionOptions}) end slow heads and bodies with 408, an oversized head
 *    with 431, a malformed request with 400, each with the JSON error body.
 */
export async function listenNode(
  handler: FetchHandler,
  options: ListenOptions = {},
): Promise<NodeListener> {
  const settings = resolveConnectionOptions(options);
  const bySocket = new WeakMap<Socket, NodeRequestBody>();
  const answeredRaw = new WeakSet<Socket>();
  let active = 0;
  let idle: (() => void) | undefined;
  let stopping = false;
  const server = createServer(
    {
      maxHeaderSize: settings.maxHeaderBytes,
      headersTimeout: settings.headersTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      keepAliveTimeout: settings.keepAliveTimeoutMs,
      connectionsCheckingInterval: checkingInterval(settings),
    },
    (req, res) => {
      if (answeredRaw.has(req.socket)) {
        req.socket.destroy();
        return;
      }
      active++;
      void serveOne(handler, req, res, settings, bySocket, () => stopping).finally(() => {
        active--;
        if (active === 0) idle?.();
      });
    },
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    const body = bySocket.get(socket);
    if (body) {
      // A request the handler has: past its deadline while the body is still coming, it
      // answers 408 itself; otherwise there is nothing left to say on this connection.
      if (error.code !== 'ERR_HTTP_REQUEST_TIMEOUT' || !body.timeOut()) socket.destroy();
      return;
    }
    if (answeredRaw.has(socket)) {
      // The parser fails again on every later chunk of a request already answered.
      return;
    }
    const answer = clientErrorAnswer(error.code, settings.maxHeaderBytes);
    if (!answer || !socket.writable) {
      socket.destroy();
      return;
    }
    answeredRaw.add(socket);
    socket.end(rawErrorAnswer(answer));
    lingerThenDestroy(socket, settings);
  });
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
  const settled = (ms: number) =>
    active === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          const timer = Number.isFinite(ms) ? setTimeout(resolve, ms) : undefined;
          timer?.unref?.();
          idle = () => {
            clearTimeout(timer);
            resolve();
          };
        });
  let closing: Promise<void> | undefined;
  return {
    server,
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    close(graceMs = Infinity) {
      closing ??= (async () => {
        stopping = true;
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await settled(graceMs);
        server.closeAllConnections();
        await settled(SETTLE_MS);
        await closed;
      })();
      return closing;
    },
    closeAllConnections() {
      server.closeAllConnections();
    },
  };
}

async function serveOne(
  handler: FetchHandler,
  req: IncomingMessage,
  res: ServerResponse,
  settings: ResolvedConnectionOptions,
  bySocket: WeakMap<Socket, NodeRequestBody>,
  stopping: () => boolean,
): Promise<void> {
  const socket = req.socket;
  const controller = new AbortController();
  // Listened to from the start: a client may be gone before the handler returns.
  res.once('close', () => {
    if (!res.writableFinished) controller.abort(CLIENT_GONE());
  });
  if (socket.destroyed) controller.abort(CLIENT_GONE());
  const body = new NodeRequestBody(req, settings);
  bySocket.set(socket, body);
  try {
    let response: Response;
    try {
      response = await handler(toRequest(req, controller.signal, body));
    } catch (error) {
      response = new Response(
        JSON.stringify({ error: { code: 'internal', message: 'internal error' } }),
        { status: 500, headers: { 'content-type': 'application/json' } },
      );
      process.emitWarning(`ferry: handler threw: ${String(error)}`);
    }
    await writeResponse(response, res, {
      signal: controller.signal,
      idleTimeoutMs: settings.idleTimeoutMs,
      // An answer before the whole body arrived closes the connection after it.
      close: !req.complete || stopping(),
      ...(body.ended ? {} : { beforeEnd: () => body.discardRest() }),
    });
  } finally {
    if (bySocket.get(socket) === body) bySocket.delete(socket);
  }
}

/** After a raw error answer: keep reading (the parser drops it) briefly, then close. */
function lingerThenDestroy(socket: Socket, settings: ResolvedConnectionOptions): void {
  const start = socket.bytesRead;
  const timer = setTimeout(() => socket.destroy(), settings.lingerMs);
  timer.unref?.();
  const check = () => {
    if (socket.bytesRead - start > settings.lingerBytes) socket.destroy();
  };
  const interval = setInterval(check, 100);
  interval.unref?.();
  socket.once('end', () => socket.destroy());
  socket.once('close', () => {
    clearTimeout(timer);
    clearInterval(interval);
  });
}

/** How often Node checks head and request deadlines: often enough to keep them tight. */
function checkingInterval(settings: ResolvedConnectionOptions): number {
  const tightest = Math.min(settings.headersTimeoutMs, settings.requestTimeoutMs);
  return Math.max(10, Math.min(1_000, Math.floor(tightest / 4)));
}

function toRequest(req: IncomingMessage, signal: AbortSignal, body: NodeRequestBody): Request {
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
  const init: RequestInit & { duplex?: 'half' } = { method, headers, signal };
  if (method !== 'GET' && method !== 'HEAD') {
    init.body = body.stream;
    init.duplex = 'half';
  }
  return new Request(url, init);
}

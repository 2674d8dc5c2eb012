/**
 * A tiny `GET /v1/events` server on node:http for tests of the realtime client: real HTTP on
 * 127.0.0.1, with the test deciding what the server says and when.
 *
 * @module
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the server answers instead of a stream, for the next connection attempts. */
export interface RefusalPlan {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly retryAfter?: string;
}

/** A running test server. */
export interface SseTestServer {
  /** `http://127.0.0.1:PORT/v1/events` */
  readonly url: string;
  /** Tokens accepted; a request with another token gets 401 with a protocol error body. */
  readonly validTokens: Set<string>;
  /** Tokens of every request, in order, from the header or the query. */
  readonly tokensSeen: string[];
  /** Open event streams. */
  openStreams(): number;
  /** Accepted streams so far. */
  acceptedStreams(): number;
  /** Streams the client closed (seen as a closed request on the server). */
  clientClosedStreams(): number;
  /** Writes raw text to every open stream. */
  write(text: string): void;
  /** Sends `event: poke` with `{"bundleSeq": seq}` to every open stream. */
  poke(bundleSeq: number): void;
  /** Sends a heartbeat comment to every open stream. */
  heartbeat(): void;
  /** Ends every open stream (a clean server close). */
  endAll(): void;
  /** Refuse the next connections with this answer (null: accept again). */
  refuse(plan: RefusalPlan | null): void;
  /** Hold the next requests without answering at all (false: answer again). */
  hang(hang: boolean): void;
  close(): Promise<void>;
}

/** Starts the server on a free port of 127.0.0.1. */
export async function startSseTestServer(validTokens: string[] = ['good']): Promise<SseTestServer> {
  const streams = new Set<ServerResponse>();
  const tokens = new Set(validTokens);
  const tokensSeen: string[] = [];
  let accepted = 0;
  let clientClosed = 0;
  let refusal: RefusalPlan | null = null;
  let hanging = false;

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    if (request.method !== 'GET' || url.pathname !== '/v1/events') {
      response.writeHead(404, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
      return;
    }
    const header = request.headers.authorization;
    const token = header?.startsWith('Bearer ')
      ? header.slice('Bearer '.length)
      : (url.searchParams.get('access_token') ?? '');
    tokensSeen.push(token);
    if (hanging) return; // closeAllConnections() at close() ends it
    if (refusal !== null) {
      const headers: Record<string, string> = {
        'content-type': refusal.contentType ?? 'application/json',
      };
      if (refusal.retryAfter !== undefined) headers['retry-after'] = refusal.retryAfter;
      response.writeHead(refusal.status, headers);
      response.end(refusal.body);
      return;
    }
    if (!tokens.has(token)) {
      response.writeHead(401, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ error: { code: 'unauthorized', message: 'bad token' } }));
      return;
    }
    accepted++;
    response.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    });
    response.flushHeaders();
    streams.add(response);
    response.on('close', () => {
      if (streams.delete(response)) clientClosed++;
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const writeAll = (text: string): void => {
    for (const stream of streams) stream.write(text);
  };

  return {
    url: `http://127.0.0.1:${port}/v1/events`,
    validTokens: tokens,
    tokensSeen,
    openStreams: () => streams.size,
    acceptedStreams: () => accepted,
    clientClosedStreams: () => clientClosed,
    write: writeAll,
    poke: (bundleSeq) => writeAll(`event: poke\ndata: ${JSON.stringify({ bundleSeq })}\n\n`),
    heartbeat: () => writeAll(': heartbeat\n\n'),
    endAll: () => {
      for (const stream of [...streams]) {
        streams.delete(stream);
        stream.end();
      }
    },
    refuse: (plan) => {
      refusal = plan;
    },
    hang: (value) => {
      hanging = value;
    },
    close: async () => {
      for (const stream of streams) stream.end();
      streams.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) =>
        server.close((error) => (error ? reject(error) : resolve())),
      );
    },
  };
}

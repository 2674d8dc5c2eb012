/**
 * A loopback HTTP proxy that injects the network faults a sync engine must survive: a
 * connection reset in the middle of a request or response body, a response lost after the
 * server did the work, a request delivered twice, and latency.
 *
 * Faults are chosen per request, either from a queue of planned faults (deterministic tests) or
 * by rates with an injected random source (soak tests). Streaming responses (SSE, NDJSON) are
 * piped through without buffering.
 *
 * @module
 */
import {
  createServer,
  request as httpRequest,
  type IncomingMessage,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** The faults the proxy can inject. */
export const FAULT_KINDS = [
  'reset-request',
  'reset-response',
  'lose-response',
  'duplicate-request',
  'latency',
] as const;

/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Probability per request of each fault (0..1), and the latency range. */
export interface FaultRates {
  readonly resetRequest?: number;
  readonly resetResponse?: number;
  readonly loseResponse?: number;
  readonly duplicateRequest?: number;
  readonly latency?: number;
  /** Extra delay of a `latency` fault, in ms: uniformly in [min, max]. Default [5, 50]. */
  readonly latencyMs?: readonly [number, number];
}

/** Options of {@link startFaultProxy}. */
export interface FaultProxyOptions {
  /** Where requests go, e.g. `http://127.0.0.1:8787`. */
  readonly target: string;
  readonly host?: string;
  readonly port?: number;
  readonly rates?: FaultRates;
  /** Random source in [0, 1); pass a seeded PRNG for reproducible runs. */
  readonly random?: () => number;
  /** Only requests whose path matches are eligible for faults (default: every request). */
  readonly eligible?: (method: string, path: string) => boolean;
}

/** A running proxy. */
export interface FaultProxy {
  /** The proxy's base URL, e.g. `http://127.0.0.1:40123`. */
  readonly url: string;
  /** How many requests came in, and how many faults of each kind were injected. */
  readonly stats: { requests: number } & Record<FaultKind, number>;
  /** Injects exactly these faults into the next eligible requests, one entry per request. */
  plan(...faults: (FaultKind | 'none')[]): void;
  /** Replaces the fault rates. */
  setRates(rates: FaultRates): void;
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

/**
 * Starts a fault-injecting proxy on loopback.
 *
 * @example
 * const proxy = await startFaultProxy({ target: server.url });
 * proxy.plan('lose-response');           // the next request reaches the server, its answer is lost
 * await expect(fetch(`${proxy.url}/v1/push`, …)).rejects.toThrow();
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = options.random ?? Math.random;
  let rates: FaultRates = options.rates ?? {};
  const planned: (FaultKind | 'none')[] = [];
  const sockets = new Set<Socket>();
  const stats = {
    requests: 0,
    'reset-request': 0,
    'reset-response': 0,
    'lose-response': 0,
    'duplicate-request': 0,
    latency: 0,
  } satisfies { requests: number } & Record<FaultKind, number>;

  const chooseFaults = (method: string, path: string): Set<FaultKind> => {
    const chosen = new Set<FaultKind>();
    if (options.eligible && !options.eligible(method, path)) return chosen;
    if (planned.length > 0) {
      const next = planned.shift()!;
      if (next !== 'none') chosen.add(next);
      return chosen;
    }
    // Draw every rate in a fixed order so a seeded run consumes randomness identically.
    const draws: [FaultKind, number | undefined][] = [
      ['reset-request', rates.resetRequest],
      ['reset-response', rates.resetResponse],
      ['lose-response', rates.loseResponse],
      ['duplicate-request', rates.duplicateRequest],
      ['latency', rates.latency],
    ];
    for (const [kind, rate] of draws) if (random() < (rate ?? 0)) chosen.add(kind);
    // A reset of the request body means the server never answers; the others cannot combine.
    if (chosen.has('reset-request')) {
      chosen.delete('reset-response');
      chosen.delete('lose-response');
      chosen.delete('duplicate-request');
    }
    if (chosen.has('lose-response')) chosen.delete('reset-response');
    return chosen;
  };

  const server = createServer((req, res) => {
    stats.requests++;
    handle(req, res).catch(() => {
      res.destroy();
    });
  });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const faults = chooseFaults(req.method ?? 'GET', req.url ?? '/');
    for (const kind of faults) stats[kind]++;
    if (faults.has('latency')) {
      const [min, max] = rates.latencyMs ?? [5, 50];
      await delay(min + random() * (max - min));
    }
    const body = await readAll(req);

    if (faults.has('reset-request')) {
      // Send half the body, then cut both connections: the server sees a truncated request.
      const upstream = forward(req, body.length);
      upstream.on('error', () => {});
      upstream.write(body.subarray(0, Math.floor(body.length / 2)));
      await delay(5);
      upstream.destroy();
      res.destroy();
      return;
    }

    if (faults.has('duplicate-request')) {
      // The first delivery runs to completion on the server; the client sees the second.
      const first = await roundTrip(req, body);
      first.resume();
      await once(first, 'end');
    }

    const upstreamResponse = await roundTrip(req, body);
    if (faults.has('lose-response')) {
      // The server did the work; the client never hears about it.
      upstreamResponse.resume();
      await once(upstreamResponse, 'end');
      res.destroy();
      return;
    }

    res.writeHead(upstreamResponse.statusCode ?? 502, upstreamResponse.headers);
    if (faults.has('reset-response')) {
      // Status line, headers and part of the body reach the client; then the connection dies.
      const full = await readAll(upstreamResponse);
      res.flushHeaders();
      res.write(full.subarray(0, Math.max(1, Math.floor(full.length / 2))), () => {
        setTimeout(() => res.socket?.destroy(), 5);
      });
      return;
    }
    upstreamResponse.pipe(res);
    res.on('close', () => upstreamResponse.destroy());
  };

  const forward = (req: IncomingMessage, length: number) =>
    httpRequest({
      host: target.hostname,
      port: target.port,
      method: req.method,
      path: req.url,
      headers: { ...req.headers, host: target.host, 'content-length': String(length) },
    });

  const roundTrip = (req: IncomingMessage, body: Buffer) =>
    new Promise<IncomingMessage>((resolve, reject) => {
      const upstream = forward(req, body.length);
      upstream.on('response', resolve);
      upstream.on('error', reject);
      upstream.end(body);
    });

  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve),
  );
  const address = server.address() as AddressInfo;

  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };

  return {
    url: `http://${address.address}:${address.port}`,
    stats,
    plan: (...faults) => planned.push(...faults),
    setRates: (next) => {
      rates = next;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

function readAll(stream: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function once(stream: IncomingMessage, event: 'end'): Promise<void> {
  return new Promise((resolve) => {
    if (stream.readableEnded) resolve();
    else {
      stream.once(event, () => resolve());
      stream.once('close', () => resolve());
    }
  });
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

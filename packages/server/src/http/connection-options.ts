import { FerryError } from '@ferry/protocol';

/**
 * Deadlines and bounds of the connections the Node listener serves. Every deadline ends in an
 * answer the client can read (408 or 431 with the JSON error body) when no answer has started
 * yet, else in closing the connection; none of them cuts a long answer that is being read
 * (a snapshot download, an event stream).
 */
export interface ConnectionOptions {
  /**
   * A request's head (request line and headers) must arrive within this long of its first
   * byte, or of the connection's start (default 20,000 ms); else 408.
   */
  readonly headersTimeoutMs?: number;
  /** The whole request, head and body, must arrive within this long (default 120,000 ms); else 408. */
  readonly requestTimeoutMs?: number;
  /**
   * The longest silence allowed while the server waits for the client: for the next byte of a
   * request body (408), or for room to write the next part of an answer the client does not
   * read (the connection is closed, releasing what the answer held). Default 30,000 ms.
   */
  readonly idleTimeoutMs?: number;
  /**
   * How long an idle keep-alive connection is kept between requests (default 65,000 ms, like
   * common load balancers): longer than clients keep idle sockets for reuse (undici: 4 s), so a
   * client never sends a request on a socket the server is closing at that moment.
   */
  readonly keepAliveTimeoutMs?: number;
  /**
   * After an answer given before the request body was read (401, 413, 429 …), the server keeps
   * reading and discarding the rest of the body for at most this long (default 10,000 ms) before
   * it closes the connection, so the client reads the answer instead of a reset.
   */
  readonly lingerMs?: number;
  /** … and at most this many bytes (default 64 MiB). */
  readonly lingerBytes?: number;
  /** Largest request head in bytes (default 16 KiB); a larger one gets 431. */
  readonly maxHeaderBytes?: number;
}

/** {@link ConnectionOptions} with every default applied. */
export type ResolvedConnectionOptions = { readonly [K in keyof ConnectionOptions]-?: number };

/** The defaults of {@link ConnectionOptions}. */
export const CONNECTION_DEFAULTS: ResolvedConnectionOptions = {
  headersTimeoutMs: 20_000,
  requestTimeoutMs: 120_000,
  idleTimeoutMs: 30_000,
  keepAliveTimeoutMs: 65_000,
  lingerMs: 10_000,
  lingerBytes: 64 * 1024 * 1024,
  maxHeaderBytes: 16 * 1024,
};

/** Applies the defaults; a value that is not a positive integer is `invalid_argument`. */
export function resolveConnectionOptions(
  options: ConnectionOptions = {},
): ResolvedConnectionOptions {
  const resolved = { ...CONNECTION_DEFAULTS };
  for (const name of Object.keys(CONNECTION_DEFAULTS) as (keyof ConnectionOptions)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new FerryError('invalid_argument', `connections.${name} must be a positive integer`);
    }
    resolved[name] = value;
  }
  if (resolved.headersTimeoutMs > resolved.requestTimeoutMs) {
    throw new FerryError(
      'invalid_argument',
      'connections.headersTimeoutMs must not exceed connections.requestTimeoutMs (the head is part of the request)',
    );
  }
  return resolved;
}

import { ConcurrencyLimiter, type Lease } from './concurrency-limiter.js';

const encoder = new TextEncoder();

/** Options of {@link PokeHub}. */
export interface PokeHubOptions {
  /** Interval of the keep-alive comment line (default 15,000 ms). */
  readonly heartbeatMs: number;
  /** Most open event streams per user; one more is refused (default 10). */
  readonly maxConnectionsPerUser: number;
  /** Most open event streams of all users; one more is refused (default 10,000). */
  readonly maxConnections: number;
  /** Called with the number of open streams whenever it changes. */
  readonly onCount?: (count: number) => void;
}

/** Outcome of {@link PokeHub.open}. */
export type OpenOutcome =
  | { readonly ok: true; readonly stream: ReadableStream<Uint8Array> }
  /** `user`: the user's cap; `total`: the server's cap; `closed`: the hub is shutting down. */
  | { readonly ok: false; readonly reason: 'user' | 'total' | 'closed' };

interface Connection {
  readonly userId: string;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
  readonly lease: Lease;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/**
 * The `GET /v1/events` streams of one server instance: Server-Sent Events, `event: poke` with
 * `data: {"bundleSeq": N}` to every stream of a user when one of the user's bundles commits,
 * and a comment line every `heartbeatMs` so proxies keep the connection open.
 *
 * A stream holds its slot until it is cancelled, its request's signal aborts (the client went
 * away), or the hub closes, whichever comes first.
 */
export class PokeHub {
  readonly #options: PokeHubOptions;
  readonly #limiter: ConcurrencyLimiter;
  readonly #byUser = new Map<string, Set<Connection>>();
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: PokeHubOptions) {
    this.#options = options;
    this.#limiter = new ConcurrencyLimiter({
      perUser: options.maxConnectionsPerUser,
      total: options.maxConnections,
    });
  }

  /** Open streams, all users. */
  get count(): number {
    return this.#count;
  }

  /**
   * Opens a stream for `userId`, or says why not. The stream starts with a `retry` hint and a
   * poke of `currentSeq` (when the user has bundles), so a client that reconnects learns at once
   * whether it missed anything. `signal` (the request's) ends the stream when it aborts.
   */
  open(userId: string, currentSeq: number, signal?: AbortSignal): OpenOutcome {
    if (this.#closed) return { ok: false, reason: 'closed' };
    if (signal?.aborted) return { ok: false, reason: 'closed' };
    const taken = this.#limiter.tryAcquire(userId);
    if (!taken.ok) return taken;
    let cancelled: () => void = () => taken.lease.release();
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        const connection: Connection = {
          userId,
          controller,
          lease: taken.lease,
          signal,
          onAbort: () => this.#end(connection),
        };
        const set = this.#byUser.get(userId) ?? new Set<Connection>();
        set.add(connection);
        this.#byUser.set(userId, set);
        signal?.addEventListener('abort', connection.onAbort, { once: true });
        this.#changeCount(1);
        controller.enqueue(encoder.encode(': ferry events\nretry: 3000\n\n'));
        if (currentSeq > 0) controller.enqueue(pokeFrame(currentSeq));
        this.#ensureTimer();
        cancelled = () => this.#remove(connection);
      },
      cancel: () => cancelled(),
    });
    return { ok: true, stream };
  }

  /** Sends a poke to every stream of `userId`. */
  poke(userId: string, bundleSeq: number): void {
    const set = this.#byUser.get(userId);
    if (!set) return;
    const frame = pokeFrame(bundleSeq);
    for (const connection of set) this.#send(connection, frame);
  }

  /** Ends every stream and refuses new ones. */
  close(): void {
    this.#closed = true;
    for (const set of this.#byUser.values()) {
      for (const connection of set) this.#end(connection);
    }
    this.#stopTimer();
  }

  #send(connection: Connection, frame: Uint8Array): void {
    try {
      connection.controller.enqueue(frame);
    } catch {
      this.#remove(connection);
    }
  }

  /** Removes the stream and closes it for its reader. */
  #end(connection: Connection): void {
    this.#remove(connection);
    try {
      connection.controller.close();
    } catch {
      // already closed or errored by the consumer
    }
  }

  #remove(connection: Connection): void {
    const set = this.#byUser.get(connection.userId);
    if (!set?.delete(connection)) return;
    if (set.size === 0) this.#byUser.delete(connection.userId);
    connection.lease.release();
    connection.signal?.removeEventListener('abort', connection.onAbort);
    this.#changeCount(-1);
    if (this.#count === 0) this.#stopTimer();
  }

  #changeCount(delta: number): void {
    this.#count += delta;
    this.#options.onCount?.(this.#count);
  }

  #ensureTimer(): void {
    if (this.#timer) return;
    this.#timer = setInterval(() => {
      const frame = encoder.encode(': keep-alive\n\n');
      for (const set of this.#byUser.values()) {
        for (const connection of set) this.#send(connection, frame);
      }
    }, this.#options.heartbeatMs);
    this.#timer.unref?.();
  }

  #stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

function pokeFrame(bundleSeq: number): Uint8Array {
  return encoder.encode(`event: poke\ndata: {"bundleSeq":${bundleSeq}}\n\n`);
}

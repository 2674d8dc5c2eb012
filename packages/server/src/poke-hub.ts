const encoder = new TextEncoder();

/** Options of {@link PokeHub}. */
export interface PokeHubOptions {
  /** Interval of the keep-alive comment line (default 15,000 ms). */
  readonly heartbeatMs: number;
  /** Most open event streams per user; one more is refused (default 10). */
  readonly maxConnectionsPerUser: number;
  /** Called with the number of open streams whenever it changes. */
  readonly onCount?: (count: number) => void;
}

interface Connection {
  readonly userId: string;
  readonly controller: ReadableStreamDefaultController<Uint8Array>;
}

/**
 * The `GET /v1/events` streams of one server instance: Server-Sent Events, `event: poke` with
 * `data: {"bundleSeq": N}` to every stream of a user when one of the user's bundles commits,
 * and a comment line every `heartbeatMs` so proxies keep the connection open.
 */
export class PokeHub {
  readonly #options: PokeHubOptions;
  readonly #byUser = new Map<string, Set<Connection>>();
  #count = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;

  constructor(options: PokeHubOptions) {
    this.#options = options;
  }

  /** Open streams, all users. */
  get count(): number {
    return this.#count;
  }

  /**
   * Opens a stream for `userId`, or returns undefined when the user is at the cap. The stream
   * starts with a `retry` hint and a poke of `currentSeq` (when the user has bundles), so a
   * client that reconnects learns at once whether it missed anything.
   */
  open(userId: string, currentSeq: number): ReadableStream<Uint8Array> | undefined {
    if (this.#closed) return undefined;
    const set = this.#byUser.get(userId) ?? new Set<Connection>();
    if (set.size >= this.#options.maxConnectionsPerUser) return undefined;
    let connection: Connection | undefined;
    const stream = new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection = { userId, controller };
        set.add(connection);
        this.#byUser.set(userId, set);
        this.#changeCount(1);
        controller.enqueue(encoder.encode(': ferry events\nretry: 3000\n\n'));
        if (currentSeq > 0) controller.enqueue(pokeFrame(currentSeq));
        this.#ensureTimer();
      },
      cancel: () => {
        if (connection) this.#remove(connection);
      },
    });
    return stream;
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
      for (const connection of set) {
        this.#remove(connection);
        try {
          connection.controller.close();
        } catch {
          // already closed or errored by the consumer
        }
      }
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

  #remove(connection: Connection): void {
    const set = this.#byUser.get(connection.userId);
    if (!set?.delete(connection)) return;
    if (set.size === 0) this.#byUser.delete(connection.userId);
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

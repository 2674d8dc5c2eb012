import pg from 'pg';
import { quoteIdent } from './postgres-ddl.js';

/** Options of {@link CommitListener}. */
export interface CommitListenerOptions {
  /** Connection settings of the dedicated client (never a pooled one: LISTEN is per session). */
  readonly config: pg.ClientConfig;
  readonly channel: string;
  onNotification(payload: string): void;
  /** Called when the connection fails and when it comes back (for logs). */
  onStateChange?(state: 'lost' | 'restored', error?: unknown): void;
  /** First delay before reconnecting (default 100 ms), doubled up to `maxDelayMs`. */
  readonly minDelayMs?: number;
  /** Longest delay between reconnection attempts (default 5,000 ms). */
  readonly maxDelayMs?: number;
}

/**
 * One dedicated connection that LISTENs on the store's channel. When the connection drops
 * (database restart, pg_terminate_backend, network), it reconnects with exponential backoff and
 * LISTENs again. Notifications sent while it was away are lost; pokes are hints, and clients
 * catch up through their periodic sync.
 */
export class CommitListener {
  readonly #options: CommitListenerOptions;
  readonly #abort = new AbortController();
  #client: pg.Client | undefined;
  #reconnecting: Promise<void> | undefined;
  #closed = false;

  constructor(options: CommitListenerOptions) {
    this.#options = options;
  }

  /** True while LISTENing. */
  get connected(): boolean {
    return this.#client !== undefined;
  }

  /** Connects and LISTENs; rejects when the first attempt fails. */
  async start(): Promise<void> {
    this.#client = await this.#connect();
  }

  /**
   * A round trip on the listening connection: notifications committed before this call have
   * been delivered to `onNotification` when it resolves. No-op while disconnected.
   */
  async sync(): Promise<void> {
    const client = this.#client;
    if (!client) return;
    try {
      await client.query('SELECT 1');
    } catch {
      // the 'error'/'end' handlers start the reconnection
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    const client = this.#client;
    this.#client = undefined;
    await this.#reconnecting?.catch(() => undefined);
    if (client) await client.end().catch(() => undefined);
  }

  async #connect(): Promise<pg.Client> {
    const client = new pg.Client(this.#options.config);
    let failed = false;
    const lost = (error?: unknown) => {
      if (failed) return;
      failed = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      if (this.#client === client) this.#client = undefined;
      if (this.#closed) return;
      this.#options.onStateChange?.('lost', error);
      this.#reconnecting ??= this.#reconnect().finally(() => {
        this.#reconnecting = undefined;
      });
    };
    client.on('error', (error) => lost(error));
    client.on('end', () => lost());
    client.on('notification', (message) => {
      if (message.channel === this.#options.channel && message.payload !== undefined) {
        this.#options.onNotification(message.payload);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${quoteIdent(this.#options.channel)}`);
    } catch (error) {
      failed = true;
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw error;
    }
    return client;
  }

  async #reconnect(): Promise<void> {
    let delay = this.#options.minDelayMs ?? 100;
    const maxDelay = this.#options.maxDelayMs ?? 5_000;
    while (!this.#closed) {
      await sleep(delay, this.#abort.signal);
      if (this.#closed) return;
      try {
        const client = await this.#connect();
        if (this.#closed) {
          await client.end().catch(() => undefined);
          return;
        }
        this.#client = client;
        this.#options.onStateChange?.('restored');
        return;
      } catch {
        delay = Math.min(maxDelay, delay * 2);
      }
    }
  }
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

import type { IncomingMessage } from 'node:http';
import { FerryError } from '@ferry/protocol';

/** Bounds of a {@link NodeRequestBody}. */
export interface RequestBodyOptions {
  /** No byte for this long while the handler waits for one: the body fails with 408. */
  readonly idleTimeoutMs: number;
  /** Discarding the rest after an early answer stops after this long … */
  readonly lingerMs: number;
  /** … or after this many bytes; the connection is then closed at once. */
  readonly lingerBytes: number;
}

/** Queued bytes before the connection is paused (TCP backpressure takes over from there). */
const QUEUE_BYTES = 64 * 1024;

/**
 * The body of a Node request as a web stream that reads from the connection only as fast as
 * the handler consumes it, and what happens to the bytes nobody wants.
 *
 * 1. Bytes are queued up to 64 KiB, then the connection is paused until the handler reads.
 * 2. While the handler waits for bytes, a silence of `idleTimeoutMs` fails the stream with
 *    `request_timeout`; so does {@link timeOut} (the request deadline).
 * 3. A client that goes away mid-body fails the stream with `aborted`: the client is gone, not
 *    the server broken.
 * 4. A handler that stops reading (cancel) leaves the rest on the connection; {@link discardRest}
 *    then reads and drops it, never buffering, for at most `lingerMs` and `lingerBytes`, and
 *    closes the connection when either bound is passed.
 */
export class NodeRequestBody {
  /** The stream handed to the handler. */
  readonly stream: ReadableStream<Uint8Array>;
  readonly #req: IncomingMessage;
  readonly #options: RequestBodyOptions;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #state: 'reading' | 'stopped' | 'discarding' | 'done' = 'reading';
  #ended = false;
  #discarded = 0;
  #idleTimer: ReturnType<typeof setTimeout> | undefined;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined;
  #drained: (() => void) | undefined;

  constructor(req: IncomingMessage, options: RequestBodyOptions) {
    this.#req = req;
    this.#options = options;
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.#controller = controller;
        },
        pull: () => {
          if (this.#state !== 'reading' || this.#ended) return;
          this.#armIdle();
          req.resume();
        },
        cancel: () => {
          if (this.#state === 'reading') this.#state = 'stopped';
          this.#disarmIdle();
          req.pause();
        },
      },
      { highWaterMark: QUEUE_BYTES, size: (chunk) => chunk.byteLength },
    );
    req.on('data', (chunk: Buffer) => this.#onData(chunk));
    req.once('end', () => this.#onEnd());
    req.once('error', () => this.#onGone());
    req.once('close', () => {
      if (!req.complete) this.#onGone();
    });
    req.pause();
  }

  /** True once the whole body came off the connection. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * The request deadline passed: the handler gets `request_timeout` from the body. False when
   * the body is no longer the handler's (answered already): then only closing is left.
   */
  timeOut(): boolean {
    if (this.#state !== 'reading' || this.#ended) return false;
    this.#fail(requestTimeout('the request body did not arrive in time'));
    return true;
  }

  /**
   * Reads and drops whatever of the body is left, within the linger bounds. Resolves when the
   * body has ended, the connection is gone, or a bound was passed (the connection is then
   * destroyed).
   */
  discardRest(): Promise<void> {
    if (this.#ended || this.#req.destroyed) return Promise.resolve();
    if (this.#state === 'reading') {
      this.#state = 'discarding';
      try {
        this.#controller.error(new FerryError('aborted', 'the answer was given before the body'));
      } catch {
        // already closed or errored
      }
    }
    this.#state = 'discarding';
    this.#disarmIdle();
    return new Promise<void>((resolve) => {
      this.#drained = resolve;
      this.#lingerTimer = setTimeout(() => this.#hangUp(), this.#options.lingerMs);
      this.#lingerTimer.unref?.();
      this.#req.resume();
    });
  }

  #onData(chunk: Buffer): void {
    if (this.#state === 'discarding') {
      this.#discarded += chunk.byteLength;
      if (this.#discarded > this.#options.lingerBytes) this.#hangUp();
      return;
    }
    if (this.#state !== 'reading') {
      // Cancelled: the rest stays on the connection until discardRest().
      this.#req.pause();
      return;
    }
    try {
      this.#controller.enqueue(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    } catch {
      this.#state = 'stopped';
      this.#req.pause();
      return;
    }
    if ((this.#controller.desiredSize ?? 0) <= 0) {
      this.#disarmIdle();
      this.#req.pause();
    } else {
      this.#armIdle();
    }
  }

  #onEnd(): void {
    this.#ended = true;
    this.#disarmIdle();
    if (this.#state === 'reading') {
      try {
        this.#controller.close();
      } catch {
        // already errored
      }
    }
    this.#finishDiscard();
  }

  #onGone(): void {
    if (this.#ended) return;
    this.#fail(new FerryError('aborted', 'the client closed the connection mid-body'));
    this.#finishDiscard();
  }

  #fail(error: FerryError): void {
    this.#disarmIdle();
    if (this.#state !== 'reading') return;
    this.#state = 'stopped';
    this.#req.pause();
    try {
      this.#controller.error(error);
    } catch {
      // already closed
    }
  }

  #hangUp(): void {
    this.#req.socket.destroy();
    this.#finishDiscard();
  }

  #finishDiscard(): void {
    if (this.#lingerTimer) clearTimeout(this.#lingerTimer);
    this.#lingerTimer = undefined;
    const drained = this.#drained;
    this.#drained = undefined;
    drained?.();
  }

  #armIdle(): void {
    this.#disarmIdle();
    this.#idleTimer = setTimeout(
      () => this.#fail(requestTimeout(`no byte of the body for ${this.#options.idleTimeoutMs} ms`)),
      this.#options.idleTimeoutMs,
    );
    this.#idleTimer.unref?.();
  }

  #disarmIdle(): void {
    if (this.#idleTimer) clearTimeout(this.#idleTimer);
    this.#idleTimer = undefined;
  }
}

function requestTimeout(message: string): FerryError {
  return new FerryError('request_timeout', message);
}

import type { ServerResponse } from 'node:http';

/** How {@link writeResponse} writes one answer. */
export interface WriteOptions {
  /** Aborted when the client went away: stop writing and cancel the body. */
  readonly signal: AbortSignal;
  /** The longest wait for the client to take more of the answer; then the connection closes. */
  readonly idleTimeoutMs: number;
  /** Answer with `Connection: close` (the request body was not read, or the server stops). */
  readonly close: boolean;
  /** Runs after the body was written and before the answer ends (discarding an unread body). */
  readonly beforeEnd?: () => Promise<void>;
}

/** A body this small is sent with a Content-Length when the connection closes after it. */
const SMALL_BODY_BYTES = 64 * 1024;

/** Answers that are streams by nature: never buffered. */
const STREAM_TYPES = ['text/event-stream', 'application/x-ndjson'];

/**
 * Writes a web `Response` to a Node response.
 *
 * 1. The body is pulled one chunk at a time and written with backpressure: nothing more is
 *    read from it while the client does not take what was written, so an unread answer holds
 *    one chunk, not the whole body.
 * 2. A client that takes nothing for `idleTimeoutMs` is hung up on.
 * 3. Whenever the answer does not complete (client gone, stalled, body failed) the body is
 *    cancelled, which releases whatever produces it (a store read, an event stream slot).
 * 4. With `close`, a small body gets a Content-Length and is written whole before `beforeEnd`
 *    runs, so the client can read the answer while the server still discards its upload.
 */
export async function writeResponse(
  response: Response,
  res: ServerResponse,
  options: WriteOptions,
): Promise<void> {
  const { signal } = options;
  const body = response.body;
  if (signal.aborted) {
    await body?.cancel(signal.reason).catch(() => undefined);
    return;
  }
  const headers: Record<string, string | string[]> = {};
  response.headers.forEach((value, name) => {
    if (name !== 'set-cookie') headers[name] = value;
  });
  const cookies = response.headers.getSetCookie();
  if (cookies.length > 0) headers['set-cookie'] = cookies;
  if (options.close) headers.connection = 'close';

  const reader = body?.getReader();
  let first: Uint8Array | undefined;
  if (reader && options.close && !isStreamType(response)) {
    // An early answer (an error body): send it whole, with its length.
    const small = await readSmall(reader);
    if (small.done) headers['content-length'] = String(small.bytes.byteLength);
    first = small.bytes;
  }
  let completed = false;
  const cancel = () => {
    void reader?.cancel(signal.reason).catch(() => undefined);
  };
  signal.addEventListener('abort', cancel, { once: true });
  try {
    if (signal.aborted) return;
    res.writeHead(response.status, headers);
    if (first && first.byteLength > 0 && !(await write(res, first, options.idleTimeoutMs))) return;
    if (reader && headers['content-length'] === undefined) {
      res.flushHeaders();
      for (;;) {
        const { done, value } = await reader.read();
        if (signal.aborted) return;
        if (done) break;
        if (!(await write(res, value, options.idleTimeoutMs))) return;
      }
    }
    completed = true;
    await options.beforeEnd?.();
    if (!signal.aborted && !res.destroyed) res.end();
  } catch {
    res.destroy();
  } finally {
    signal.removeEventListener('abort', cancel);
    if (!completed) cancel();
  }
}

/** Writes one chunk; false when the client is gone or stalled (then the connection is closed). */
async function write(res: ServerResponse, chunk: Uint8Array, idleTimeoutMs: number) {
  if (res.destroyed) return false;
  if (res.write(chunk)) return true;
  const outcome = await drained(res, idleTimeoutMs);
  if (outcome === 'stalled') res.destroy();
  return outcome === 'drained';
}

/**
 * Waits until `res` can take more, is gone, or took nothing for `ms`. A response whose socket
 * already closed emits neither event again, so that case resolves at once.
 */
function drained(res: ServerResponse, ms: number): Promise<'drained' | 'gone' | 'stalled'> {
  if (res.destroyed || res.closed) return Promise.resolve('gone');
  if (!res.writableNeedDrain) return Promise.resolve('drained');
  return new Promise((resolve) => {
    const finish = (outcome: 'drained' | 'gone' | 'stalled') => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(outcome);
    };
    const onDrain = () => finish('drained');
    const onClose = () => finish('gone');
    const timer = setTimeout(() => finish('stalled'), ms);
    timer.unref?.();
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}

function isStreamType(response: Response): boolean {
  const type = response.headers.get('content-type') ?? '';
  return STREAM_TYPES.some((t) => type.startsWith(t));
}

async function readSmall(
  reader: ReadableStreamDefaultReader<Uint8Array>,
): Promise<{ done: boolean; bytes: Uint8Array }> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  let done = false;
  while (total <= SMALL_BODY_BYTES) {
    const next = await reader.read();
    if (next.done) {
      done = true;
      break;
    }
    chunks.push(next.value);
    total += next.value.byteLength;
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return { done, bytes };
}

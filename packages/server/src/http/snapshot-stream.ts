import type { SnapshotAfterHistory, SnapshotRow } from '@ferry/protocol';
import { snapshotHeaderJson } from '../core/wire-json.js';
import type { FerryLogger } from '../logger.js';
import type { SnapshotReader } from '../store/server-store.js';

const encoder = new TextEncoder();

/** What {@link snapshotStream} needs besides the reader. */
export interface SnapshotStreamOptions {
  /** The request's signal: when it aborts, the read is released at once. */
  readonly signal: AbortSignal;
  readonly logger: FerryLogger;
  /** Called once, after the reader was closed, however the stream ended. */
  readonly onEnd: () => void;
  /** What the head line says of the request's `after`, when it named one. */
  readonly afterHistory?: SnapshotAfterHistory | undefined;
  /** Each row line as the client reads it (its schema version), or null to leave it out. */
  readonly projectRow?: ((line: SnapshotRow) => SnapshotRow | null) | undefined;
}

/**
 * The NDJSON body of `GET /v1/snapshot` over a store's reader: the head line, the row lines
 * batch by batch, the end line.
 *
 * 1. Pull-based with no queue of its own: a batch is read from the store only when the previous
 *    one was taken, so a client that stops reading holds one batch, not the snapshot.
 * 2. The reader (its connection and read transaction) is closed exactly once, whichever comes
 *    first: the end line, a failure, a cancel by the consumer, or the request's signal.
 */
export function snapshotStream(
  reader: SnapshotReader,
  options: SnapshotStreamOptions,
): ReadableStream<Uint8Array> {
  const rows = reader.rows()[Symbol.asyncIterator]();
  let rowCount = 0;
  let started = false;
  let finished = false;
  const finish = async () => {
    if (finished) return;
    finished = true;
    options.signal.removeEventListener('abort', onAbort);
    try {
      await rows.return?.();
    } catch {
      // the read failed already; closing below still releases it
    }
    try {
      await reader.close();
    } catch (error) {
      options.logger.warn({ err: error }, 'closing a snapshot read failed');
    } finally {
      options.onEnd();
    }
  };
  let stream!: ReadableStreamDefaultController<Uint8Array>;
  const onAbort = () => {
    try {
      stream.error(options.signal.reason);
    } catch {
      // already closed
    }
    void finish();
  };
  const body = new ReadableStream<Uint8Array>(
    {
      start(controller) {
        stream = controller;
      },
      async pull(controller) {
        if (finished) return;
        try {
          if (!started) {
            started = true;
            const head = snapshotHeaderJson({
              snapshotBundleSeq: reader.snapshotBundleSeq,
              token: reader.token,
              serverId: reader.serverId,
              afterHistory: options.afterHistory,
            });
            controller.enqueue(encoder.encode(`${head}\n`));
            return;
          }
          const next = await rows.next();
          if (finished) return;
          if (next.done) {
            controller.enqueue(encoder.encode(`{"end":true,"rowCount":${rowCount}}\n`));
            controller.close();
            await finish();
            return;
          }
          let text = '';
          for (const raw of next.value) {
            const line = options.projectRow ? options.projectRow(raw) : raw;
            if (line === null) continue;
            rowCount++;
            text += JSON.stringify(line) + '\n';
          }
          controller.enqueue(encoder.encode(text));
        } catch (error) {
          if (finished) return;
          options.logger.error({ err: error }, 'snapshot stream failed');
          controller.error(error);
          await finish();
        }
      },
      async cancel() {
        await finish();
      },
    },
    { highWaterMark: 0 },
  );
  if (options.signal.aborted) onAbort();
  else options.signal.addEventListener('abort', onAbort, { once: true });
  return body;
}

import {
  FerryError,
  SnapshotEndSchema,
  SnapshotHeaderSchema,
  SnapshotRowSchema,
  isPlainSnapshotRow,
  parseWith,
  type SnapshotHeader,
} from '@ferry/protocol';
import type { SerialDatabase } from '../driver/serial-database.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import type { EngineContext } from '../engine-context.js';
import { readCursor } from '../local/metadata.js';
import { readBasesPoint } from '../local/bases-point.js';
import type { StagedSnapshot } from '../apply/hydrate.js';
import { clearSnapshotStage, STAGE_BATCH, stageSnapshotRows } from '../local/snapshot-stage.js';
import type { Transport } from './transport.js';

/**
 * Streams `GET /v1/snapshot` into the connection's temp staging table in short batches: memory
 * stays bounded by one batch, and no database lock is held across the network. A stream without
 * its end line (or with a wrong row count) is discarded and throws. A file with a checkpoint
 * sends it (`after`, `token`), or its bases point when it holds one (`local/bases-point.ts`):
 * the server says in the head line whether it is on its history (`afterHistory`), judged in the
 * snapshot's own read.
 */
export async function downloadSnapshot(
  db: SerialDatabase,
  transport: Transport,
  ctx: EngineContext,
  options: { signal?: AbortSignal | undefined; timeoutMs: number },
): Promise<StagedSnapshot> {
  await clearSnapshotStage(db);
  // The newest point the file holds: its bases point when it has one (above the checkpoint, and
  // tokens chain, so a verdict on it covers the checkpoint too), else its checkpoint.
  const point = await readBasesPoint(db);
  const cursor =
    point === null ? await readCursor(db) : { after: point.bundleSeq, token: point.token };
  const query =
    cursor.after === 0
      ? ''
      : `?after=${cursor.after}${cursor.token === null ? '' : `&token=${encodeURIComponent(cursor.token)}`}`;
  const { response, signal, done } = await transport.getStream(`/v1/snapshot${query}`, {
    signal: options.signal,
    timeoutMs: options.timeoutMs,
  });
  let header: SnapshotHeader | undefined;
  let end: { rowCount: number } | undefined;
  let count = 0;
  let batch: SqlValue[][] = [];
  let firstBatch = true;
  const flush = async () => {
    if (batch.length === 0) return;
    const rows = batch;
    batch = [];
    await db.transaction((tx) => stageSnapshotRows(tx, rows));
    if (firstBatch) {
      firstBatch = false;
      await ctx.hook('during-hydration-download');
    }
  };
  const handleLine = async (line: string) => {
    if (line.trim() === '') return;
    if (end) throw new FerryError('bad_response', 'the snapshot has lines after its end line');
    let value: unknown;
    try {
      value = JSON.parse(line) as unknown;
    } catch (error) {
      throw new FerryError('bad_response', 'the snapshot has a malformed line', { cause: error });
    }
    if (!header) {
      const parsed = SnapshotHeaderSchema.safeParse(value);
      if (!parsed.success) throw new FerryError('bad_response', 'the snapshot has no header line');
      header = parsed.data;
      return;
    }
    const row = parseWith(SnapshotRowSchema, isPlainSnapshotRow, value);
    if (row.success) {
      const codec = ctx.codecs.get(row.data.table);
      if (!codec) {
        throw new FerryError(
          'bad_response',
          `the snapshot has a row of unknown table "${row.data.table}"`,
        );
      }
      batch.push([
        row.data.table,
        codec.encodePk(row.data.pk),
        row.data.rowVersion,
        JSON.stringify(row.data.row),
      ]);
      count++;
      if (batch.length >= STAGE_BATCH) await flush();
      return;
    }
    const last = SnapshotEndSchema.safeParse(value);
    if (!last.success) throw new FerryError('bad_response', 'the snapshot has a malformed line');
    end = last.data;
  };

  try {
    const body = response.body;
    if (!body) throw new FerryError('bad_response', 'the snapshot answer has no body');
    const reader = body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        let chunk: ReadableStreamReadResult<Uint8Array>;
        try {
          chunk = await reader.read();
        } catch (error) {
          throw transport.readError(error, options.signal, signal);
        }
        if (chunk.done) break;
        buffer += decoder.decode(chunk.value, { stream: true });
        let newline = buffer.indexOf('\n');
        while (newline >= 0) {
          await handleLine(buffer.slice(0, newline));
          buffer = buffer.slice(newline + 1);
          newline = buffer.indexOf('\n');
        }
      }
      buffer += decoder.decode();
      await handleLine(buffer);
    } finally {
      reader.releaseLock();
      await body.cancel().catch(() => undefined);
    }
    await flush();
    if (!header || !end) {
      throw new FerryError('network', 'the snapshot stream ended before its end line; discarded');
    }
    if (end.rowCount !== count) {
      throw new FerryError(
        'bad_response',
        `the snapshot announced ${end.rowCount} rows but carried ${count}; discarded`,
      );
    }
    return {
      snapshotBundleSeq: header.snapshotBundleSeq,
      rowCount: count,
      token: header.token ?? null,
      serverId: header.serverId ?? null,
      ...(cursor.after === 0 || header.afterHistory === undefined
        ? {}
        : { after: { seq: cursor.after, history: header.afterHistory } }),
    };
  } catch (error) {
    await clearSnapshotStage(db).catch(() => undefined);
    throw error;
  } finally {
    done();
  }
}

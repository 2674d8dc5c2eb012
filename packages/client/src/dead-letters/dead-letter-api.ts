import { FerryError } from '@ferry/protocol';
import { restoreServerRow } from '../apply/apply-bundles.js';
import type { LocalParts } from '../engine-context.js';
import type { TransactionExecutor } from '../driver/serial-database.js';
import { deletePending, parseRow, readRowState, setApplying } from '../local/metadata.js';
import { deleteDeadLetter, readDeadLetter, readDeadLetters } from '../local/dead-letter-store.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { requeueChange } from '../outbox/freeze-bundle.js';
import type { DeadLetter } from '../types.js';

/** The changes the server refused for good, oldest first. */
export async function listDeadLetters(parts: LocalParts): Promise<DeadLetter[]> {
  const rows = await readDeadLetters(parts.db);
  return rows.map((r) => ({
    id: r.id,
    table: r.tbl,
    pk: r.pk,
    op: r.op,
    row: parseRow(r.row),
    baseVersion: r.base_version,
    code: r.code,
    message: r.message,
    status: r.status,
    at: r.at,
  }));
}

/**
 * Puts dead letter `id` back in the outbox, coalesced with edits made since and pinned to the
 * base it was made on (the app fixes the row with a write first when it was invalid).
 */
export async function retryDeadLetter(parts: LocalParts, id: number): Promise<void> {
  await parts.db.transaction(async (tx) => {
    await foldCaptureLog(tx, parts.ctx.now());
    const letter = await existingDeadLetter(tx, id);
    await deleteDeadLetter(tx, id);
    await requeueChange(tx, {
      tbl: letter.tbl,
      pk: letter.pk,
      letter: letter.letter,
      baseVersion: letter.base_version,
      base: parseRow(letter.base),
      firstGroup: 0,
      lastGroup: 0,
      firstAt: letter.first_at,
    });
  });
}

/**
 * Drops dead letter `id` and any pending edit of its row: the row returns to its server state
 * (a row the server never had is deleted locally).
 */
export async function discardDeadLetter(parts: LocalParts, id: number): Promise<void> {
  await parts.db.transaction(
    async (tx) => {
      await foldCaptureLog(tx, parts.ctx.now());
      const letter = await existingDeadLetter(tx, id);
      await deleteDeadLetter(tx, id);
      await deletePending(tx, letter.tbl, letter.pk);
      await setApplying(tx, true);
      const codec = parts.ctx.codecs.get(letter.tbl);
      if (!codec) throw new FerryError('invalid_argument', `unknown table "${letter.tbl}"`);
      await restoreServerRow(tx, codec, letter.pk, await readRowState(tx, letter.tbl, letter.pk));
      await setApplying(tx, false);
    },
    { foreignKeysOff: true },
  );
}

async function existingDeadLetter(tx: TransactionExecutor, id: number) {
  const letter = await readDeadLetter(tx, id);
  if (!letter) throw new FerryError('invalid_argument', `no dead letter ${id}`);
  return letter;
}

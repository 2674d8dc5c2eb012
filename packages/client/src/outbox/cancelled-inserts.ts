/**
 * Inserts the file undid before any push took them (insert, then delete: nothing to push), and
 * what becomes of them when another install turns out to share the file's source id.
 *
 * The fold journals such rows in `ferry_cancelled` (see `foldCaptureLog`); a row the app writes
 * again leaves the journal. The install the file was copied from or to, or the file's own past
 * before a restore from a backup, may have pushed the insert: the app's delete must then reach
 * the server. Three moments show that one did: the server sends
 * such a row, in a pulled bundle ({@link holdCancelledRows}) or a snapshot
 * ({@link holdCancelledSnapshotRows}) — only an install of this file can have pushed a row of a
 * key the file made — and a rotation of the source id ({@link deleteCancelledRows}), which says
 * another install shares or shared the id.
 *
 * @module
 */
import type { Bundle, Schema } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import { quoteIdent, quoteLiteral } from '../local/local-schema-sql.js';
import type { Executor } from '../local/metadata.js';
import { foldCaptureLog } from './fold-capture-log.js';

/** The latest write group: a delete queued here goes out after every write before it. */
const LATEST_GROUP = '(SELECT coalesce(max(seq), 0) FROM ferry_log)';
const NO_INTENT = 'NOT EXISTS (SELECT 1 FROM ferry_intent i WHERE i.tbl = ? AND i.pk = ?)';

/** Whether any row is journaled (none unless the app undid an insert before pushing it). */
export async function hasCancelledRows(tx: Executor): Promise<boolean> {
  return (await tx.all('SELECT 1 FROM ferry_cancelled LIMIT 1')).length > 0;
}

/**
 * A pulled bundle brings back rows whose insert the file undid: each such row without local
 * intent gets a pending delete before the bundle is applied, so it stays deleted here and the
 * delete goes out. Returns how many were queued.
 */
export async function holdCancelledRows(
  tx: Executor,
  ctx: EngineContext,
  bundle: Pick<Bundle, 'rows'>,
): Promise<number> {
  let queued = 0;
  for (const effect of bundle.rows) {
    const codec = ctx.codecs.get(effect.table);
    if (effect.op !== 'upsert' || !codec) continue;
    const pk: SqlValue = codec.encodePk(effect.pk);
    const cancelled = await tx.all('SELECT 1 FROM ferry_cancelled WHERE tbl = ? AND pk = ?', [
      effect.table,
      pk,
    ]);
    if (cancelled.length === 0) continue;
    const { changes } = await tx.run(
      'INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) ' +
        `SELECT ?, ?, 'D', g, g, ? FROM (SELECT ${LATEST_GROUP} AS g) WHERE ${NO_INTENT}`,
      [effect.table, pk, ctx.now(), effect.table, pk],
    );
    await tx.run('DELETE FROM ferry_cancelled WHERE tbl = ? AND pk = ?', [effect.table, pk]);
    queued += changes;
  }
  return queued;
}

/**
 * A staged snapshot (`temp.ferry_snapshot`) brings back rows whose insert the file undid: as
 * for a pulled bundle, each such row without local intent gets a pending delete before the
 * snapshot is applied, and leaves the journal. Call after the capture log is folded.
 */
export async function holdCancelledSnapshotRows(tx: Executor, now: number): Promise<void> {
  const inSnapshot =
    'EXISTS (SELECT 1 FROM temp.ferry_snapshot s WHERE s.tbl = c.tbl AND s.pk = c.pk)';
  await tx.run(
    'INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) ' +
      `SELECT c.tbl, c.pk, 'D', ${LATEST_GROUP}, ${LATEST_GROUP}, ? FROM ferry_cancelled c ` +
      `WHERE ${inSnapshot} ` +
      'AND NOT EXISTS (SELECT 1 FROM ferry_intent i WHERE i.tbl = c.tbl AND i.pk = c.pk)',
    [now],
  );
  await tx.run(`DELETE FROM ferry_cancelled AS c WHERE ${inSnapshot}`);
}

/**
 * On a rotation of the source id: each journaled row that is not in the file (no row in its
 * table) and has no local intent gets a pending delete; the journal is emptied. (A journaled row
 * is back in the file only through the app: the server's copies of it are held deleted, see
 * above.) The capture log is folded first, so the app's latest writes count.
 */
export async function deleteCancelledRows(
  tx: Executor,
  schema: Schema,
  now: number,
): Promise<void> {
  await foldCaptureLog(tx, now);
  for (const table of schema.tables) {
    const t = quoteIdent(table.name);
    const name = quoteLiteral(table.name);
    await tx.run(
      'INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) ' +
        `SELECT c.tbl, c.pk, 'D', ${LATEST_GROUP}, ${LATEST_GROUP}, ? FROM ferry_cancelled c ` +
        `WHERE c.tbl = ${name} ` +
        'AND NOT EXISTS (SELECT 1 FROM ferry_intent i WHERE i.tbl = c.tbl AND i.pk = c.pk) ' +
        `AND NOT EXISTS (SELECT 1 FROM ${t} r WHERE r.${quoteIdent(table.primaryKey)} = c.pk)`,
      [now],
    );
  }
  await tx.run('DELETE FROM ferry_cancelled');
}

/**
 * Inserts the file undid before any push took them (insert, then delete: nothing to push), and
 * what becomes of them when another install turns out to share the file's source id.
 *
 * The fold journals such rows in `ferry_cancelled` (see `foldCaptureLog`); a row the app writes
 * again leaves the journal, and a commit of a bundle frozen after the undo clears it (no other
 * install pushed under our id before that commit). The install the file was copied from or to,
 * or the file's own past before a restore from a backup, may have pushed the insert: the app's
 * delete must then reach the server. Two moments show that one did: a pulled bundle of our
 * source id that is not ours ({@link holdCancelledRows}), and a rotation of the source id
 * ({@link settleInsertsOnRotation}), which also marks the inserts still pending as maybe on the
 * server. A row another device of the user writes is that device's: the journal never makes
 * the file delete a row some other source sent it.
 *
 * @module
 */
import type { Bundle, Schema } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import { quoteIdent, quoteLiteral } from './local-schema-sql.js';
import { noLocalIntentSql, type Executor } from './metadata.js';
import { foldCaptureLog } from './fold-capture-log.js';

/** The latest write group: a delete queued here goes out after every write before it. */
const LATEST_GROUP = '(SELECT coalesce(max(seq), 0) FROM ferry_log)';
const NO_INTENT = noLocalIntentSql('?', '?');

/**
 * Our bundle `sourceBundleId` committed as the server's last bundle of our source: no other
 * install pushed past it under our id, so inserts undone before it was frozen were never pushed
 * by one either, and leave the journal.
 */
export async function settleCancelledThrough(tx: Executor, sourceBundleId: number): Promise<void> {
  await tx.run('DELETE FROM ferry_cancelled WHERE mark <= ?', [sourceBundleId]);
}

/**
 * A pulled bundle of our source id that is not ours (`foreign`) brings back rows whose insert
 * the file undid: each such row without local intent gets a pending delete before the bundle is
 * applied, so it stays deleted here and the delete goes out. Returns how many were queued.
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
    // A row whose key the server assigned was journaled under its temporary key.
    const journaled: SqlValue = effect.tempKey === undefined ? pk : codec.encodePk(effect.tempKey);
    const cancelled = await tx.all('SELECT 1 FROM ferry_cancelled WHERE tbl = ? AND pk = ?', [
      effect.table,
      journaled,
    ]);
    if (cancelled.length === 0) continue;
    const { changes } = await tx.run(
      'INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) ' +
        `SELECT ?, ?, 'D', g, g, ? FROM (SELECT ${LATEST_GROUP} AS g) WHERE ${NO_INTENT}`,
      [effect.table, pk, ctx.now(), effect.table, pk],
    );
    await tx.run('DELETE FROM ferry_cancelled WHERE tbl = ? AND pk = ?', [effect.table, journaled]);
    queued += changes;
  }
  return queued;
}

/**
 * On a rotation of the source id (the capture log is folded first, so the app's latest writes
 * count):
 * 1. each journaled row without local intent that is not in the file gets a pending delete;
 * 2. each journaled row without local intent that is back in the file (a snapshot brought it)
 *    is deleted again, through the capture triggers (its delete cascades as the app's did), so
 *    the app's delete goes out; one with children the app wrote since (local intent) stays: the
 *    app built on it;
 * 3. the journal is emptied;
 * 4. every pending insert becomes a pending change of a row that may be on the server (op `U`,
 *    its pin and base as they were): the install that shared the id may have pushed it, so an
 *    undo of it from now on is a delete that goes out (meeting the row as a conflict if it is
 *    there, no change if it is not) instead of nothing. It still goes out as an upsert, saying
 *    it may have been pushed (`maybePushed`): a server that purged the tombstone of a row the
 *    insert made and someone deleted since answers a conflict rather than bring it back. The
 *    inserts of the bundle in flight, moved to the new source, become `U` alike.
 */
export async function settleInsertsOnRotation(
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
        `AND ${noLocalIntentSql('c.tbl', 'c.pk')} ` +
        `AND NOT EXISTS (SELECT 1 FROM ${t} r WHERE r.${quoteIdent(table.primaryKey)} = c.pk)`,
      [now],
    );
    // Children the app wrote since (local intent) show it built on the row; children the
    // server sent are other devices' and go with the row, as the delete's cascade says.
    const builtOn = table.referencedBy.map((ref) => {
      const childPk = quoteIdent(schema.requireTable(ref.childTable).primaryKey);
      return (
        `EXISTS (SELECT 1 FROM ${quoteIdent(ref.childTable)} ch ` +
        `WHERE ch.${quoteIdent(ref.column)} = c.pk AND EXISTS (SELECT 1 FROM ferry_intent i ` +
        `WHERE i.tbl = ${quoteLiteral(ref.childTable)} AND i.pk = ch.${childPk}))`
      );
    });
    await tx.run(
      `DELETE FROM ${t} WHERE ${quoteIdent(table.primaryKey)} IN (` +
        `SELECT c.pk FROM ferry_cancelled c WHERE c.tbl = ${name} ` +
        `AND ${noLocalIntentSql('c.tbl', 'c.pk')}` +
        builtOn.map((r) => ` AND NOT ${r}`).join('') +
        ')',
    );
  }
  await tx.run('DELETE FROM ferry_cancelled');
  await foldCaptureLog(tx, now);
  await tx.run("UPDATE ferry_outbox SET op = 'U' WHERE op = 'I'");
  // The bundle in flight moved to the new source (`moveFrozenBundleToSource`) holds inserts the
  // same may be true of: they go out saying so (`maybePushed`, see `baseClaimOf`).
  await tx.run(
    "UPDATE ferry_inflight SET letter = 'U' WHERE letter = 'I' AND op = 'upsert' " +
      'AND EXISTS (SELECT 1 FROM ferry_bundle WHERE id = 1 AND committed_seq IS NULL)',
  );
}

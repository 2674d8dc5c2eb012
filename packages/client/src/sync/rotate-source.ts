import type { Schema } from '@ferry/protocol';
import type { ClientCore } from '../client-core.js';
import { quoteIdent, quoteLiteral } from '../local/local-schema-sql.js';
import { readFrozenBundleHead, writeState, type Executor } from '../local/metadata.js';
import { foldCaptureLog } from '../outbox/fold-capture-log.js';
import { inFlightStatusOf } from '../status/client-status.js';

/**
 * Why the source id is rotated:
 * - `bundle_mismatch`: the server committed another bundle under our `(sourceId, sourceBundleId)`
 *   (another install uses our source id: a copied file);
 * - `foreign_bundle`: a pull brought a bundle of our source id that is not ours (the same);
 * - `stale_bundle`: the server has later bundles of our source than the file knows (the file was
 *   restored from an old backup of itself, or copied from an install that went on).
 */
export type SourceRotationReason = 'bundle_mismatch' | 'foreign_bundle' | 'stale_bundle';

/**
 * Rotates the client's source id, because another install shares it or the file fell behind its
 * own source: a `(sourceId, sourceBundleId)` pair must never name two different bundles (seed
 * 003), so nothing more goes out under the old id. In one transaction:
 * 1. a fresh source id (`settings.createSourceId`) is the file's;
 * 2. the bundle in flight, unless the server said it committed, becomes bundle 1 of the new
 *    source, with its changes and bases as they are (the server never took them under the old
 *    id, or cannot tell us so); a bundle the server said committed stays under the old id and
 *    is settled by the hydration below;
 * 3. the next bundle of the new source is 1 (2 once a renumbered bundle is acknowledged);
 * 4. the file is marked for a hydration, which keeps every local change on top: rows may have
 *    moved on the server under the old id in ways this file never saw;
 * 5. every insert the file folded away with a delete since its last commit (`ferry_cancelled`)
 *    is deleted again, unless the app wrote the row since: the install that shared the id (a
 *    copy, or this file's own past before a restore) may have pushed that insert, and the app's
 *    delete must reach the server then (a delete of a row the server never had is no change
 *    there).
 * Every pending change is kept and pushed under the new id; nothing is dropped.
 */
export async function rotateSource(core: ClientCore, reason: SourceRotationReason): Promise<void> {
  const { db, ctx, observer } = core;
  const previous = ctx.sourceId;
  const next = core.settings.createSourceId().toLowerCase();
  const frozen = await db.transaction(async (tx) => {
    await writeState(tx, 'source_id', next);
    await writeState(tx, 'next_source_bundle_id', 1);
    await writeState(tx, 'needs_hydration', 1);
    await tx.run(
      'UPDATE ferry_bundle SET source_id = ?, source_bundle_id = 1, attempts = 0 ' +
        'WHERE id = 1 AND committed_seq IS NULL',
      [next],
    );
    await deleteCancelledInserts(tx, ctx.schema, ctx.now());
    return readFrozenBundleHead(tx);
  });
  ctx.sourceId = next;
  core.metrics.sourceRotations++;
  observer.log(
    'warn',
    'source-rotated',
    `source ${previous} rotated to ${next} (${reason}); pending changes go out under the new id`,
    { previousSourceId: previous, sourceId: next, reason },
  );
  observer.setStatus({
    sourceId: next,
    ...(frozen ? { inFlight: inFlightStatusOf(frozen) } : {}),
  });
}

/**
 * Step 5 of {@link rotateSource}: each row of `ferry_cancelled` the app has not written since
 * (no local intent) is deleted: a row back in the file (the twin's bundle brought it) by a
 * delete the capture triggers record like the app's; a row absent by a pending delete entry in
 * the latest write group. The journal is emptied.
 */
async function deleteCancelledInserts(tx: Executor, schema: Schema, now: number): Promise<void> {
  // The app's latest writes count: a row written since it was cancelled is kept as written.
  await foldCaptureLog(tx, now);
  const noIntent = 'NOT EXISTS (SELECT 1 FROM ferry_intent i WHERE i.tbl = c.tbl AND i.pk = c.pk)';
  for (const table of schema.tables) {
    const t = quoteIdent(table.name);
    const pk = quoteIdent(table.primaryKey);
    const name = quoteLiteral(table.name);
    await tx.run(
      'INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at) ' +
        "SELECT c.tbl, c.pk, 'D', g.grp, g.grp, ? FROM ferry_cancelled c, " +
        '(SELECT coalesce(max(seq), 0) AS grp FROM ferry_log) g ' +
        `WHERE c.tbl = ${name} AND ${noIntent} ` +
        `AND NOT EXISTS (SELECT 1 FROM ${t} r WHERE r.${pk} = c.pk)`,
      [now],
    );
    await tx.run(
      `DELETE FROM ${t} WHERE ${pk} IN (SELECT c.pk FROM ferry_cancelled c ` +
        `WHERE c.tbl = ${name} AND ${noIntent})`,
    );
  }
  await tx.run('DELETE FROM ferry_cancelled');
}

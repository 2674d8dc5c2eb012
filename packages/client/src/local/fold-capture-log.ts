import type { Executor } from './metadata.js';

/**
 * Folds `ferry_log` into `ferry_outbox` with set-based SQL and empties the log, inside the
 * caller's transaction (so nothing is folded twice or lost). Returns the number of log lines
 * folded.
 *
 * The result is what `foldLog` (in `outbox/coalesce.ts`: the executable specification, and the oracle
 * of this function's tests) gives for the whole log at once, each row starting from its existing
 * outbox entry:
 * 1. Every captured line, in log order, moves its row's entry by `coalesce`, the entry itself
 *    holding the state (an upsert per line inside one statement); `ferry_rows` says whether the
 *    server has the row alive (an insert and a delete of such a row leave the delete).
 * 2. A new entry, or one that starts afresh after it was folded to nothing (an insert, then a
 *    delete, then an insert again), takes the line's write group and that group's time; an
 *    existing entry keeps its first group and time. `last_group` is the group of the row's last
 *    line. A line's group is the `B` marker before it or, for lines before the first marker
 *    (SQL writes outside `client.write`), the first captured line, with the fold's time.
 * 3. Pins (`pinned`, `pin_version`, `pin_base`) of an existing entry are kept; an entry folded to
 *    nothing is deleted, and its row goes into `ferry_cancelled` (an insert no push took, undone
 *    by a delete: see `cancelled-inserts.ts`), marked with the first bundle id frozen after it;
 *    a journaled row the app writes again (it has an entry now) leaves the journal.
 *
 * Costs seven statements whatever the size of the log, one when there is nothing to fold.
 */
export async function foldCaptureLog(tx: Executor, now: number): Promise<number> {
  const [ends] = await tx.all<{ hi: number; lo: number; lo_op: string }>(
    'SELECT (SELECT max(seq) FROM ferry_log) AS hi, seq AS lo, op AS lo_op FROM ferry_log ORDER BY seq LIMIT 1',
  );
  if (ends === undefined || (ends.hi === ends.lo && ends.lo_op === KEEPER)) return 0;
  await tx.run(FOLD_SQL, [now, now]);
  await tx.run(CANCEL_SQL);
  await tx.run(UNCANCEL_SQL);
  await tx.run(`DELETE FROM ferry_outbox WHERE op = '${NOTHING}'`);
  const { changes } = await tx.run('DELETE FROM ferry_log');
  // The last line's seq stays behind, so the next write's seq (and write group) is higher than
  // every group in the outbox: an empty table would give seq 1 again.
  await tx.run(`INSERT INTO ferry_log (seq, op) VALUES (?, '${KEEPER}')`, [ends.hi]);
  return changes - (ends.lo_op === KEEPER ? 1 : 0);
}

/**
 * The op of the one line a fold leaves in `ferry_log`: it only keeps the log's sequence going
 * (no table, no group; folds skip it).
 */
export const KEEPER = 'K';

/** The op of an entry folded to nothing, only ever seen inside the fold's statement. */
const NOTHING = 'X';

/**
 * Journals the entries folded to nothing (an insert, then a delete: the only way to nothing) in
 * `ferry_cancelled`, marked with the id of the first bundle frozen after now: the one after the
 * bundle in flight, else the next one.
 */
const CANCEL_SQL = `INSERT INTO ferry_cancelled (tbl, pk, mark)
SELECT tbl, pk, coalesce(
  (SELECT source_bundle_id + 1 FROM ferry_bundle WHERE id = 1),
  (SELECT value FROM ferry_state WHERE key = 'next_source_bundle_id'),
  1)
FROM ferry_outbox WHERE op = '${NOTHING}'
ON CONFLICT (tbl, pk) DO UPDATE SET mark = excluded.mark`;

/**
 * A journaled row with an entry (the app wrote it again) leaves the journal: from then on the
 * row is the app's own again, and a copy of it from the server is not one to delete.
 */
const UNCANCEL_SQL = `DELETE FROM ferry_cancelled WHERE EXISTS (SELECT 1 FROM ferry_outbox o
WHERE o.tbl = ferry_cancelled.tbl AND o.pk = ferry_cancelled.pk AND o.op != '${NOTHING}')`;

/**
 * Every captured line, in log order, upserted into its row's entry: a new entry takes the line
 * (op, group, the group's time); an existing one moves by `coalesce`, with {@link NOTHING}
 * for "nothing left", after which the next line starts the entry afresh (new first group and
 * time). Pins are never touched. Parameters: the fold's time, twice (groups without a marker
 * time).
 */
const FOLD_SQL = `INSERT INTO ferry_outbox (tbl, pk, op, first_group, last_group, first_at)
SELECT l.tbl, l.pk, l.op, l.grp, l.grp,
  CASE WHEN l.marker IS NULL THEN ?
    ELSE coalesce((SELECT b.at FROM ferry_log b WHERE b.seq = l.marker), ?) END
FROM (
  SELECT seq, tbl, pk, op, marker,
    coalesce(marker, (SELECT min(f.seq) FROM ferry_log f WHERE f.op != 'B' AND f.tbl IS NOT NULL)) AS grp
  FROM (
    SELECT seq, tbl, pk, op,
      max(CASE WHEN op = 'B' THEN seq END) OVER (ORDER BY seq ROWS UNBOUNDED PRECEDING) AS marker
    FROM ferry_log
  )
) l
WHERE l.op != 'B' AND l.tbl IS NOT NULL
ORDER BY l.seq
ON CONFLICT (tbl, pk) DO UPDATE SET
  op = CASE ferry_outbox.op
    WHEN '${NOTHING}' THEN excluded.op
    WHEN 'I' THEN CASE excluded.op WHEN 'D' THEN
      CASE WHEN EXISTS (SELECT 1 FROM ferry_rows r WHERE r.tbl = ferry_outbox.tbl AND r.pk = ferry_outbox.pk AND r.deleted = 0)
        THEN 'D' ELSE '${NOTHING}' END
      ELSE 'I' END
    WHEN 'U' THEN CASE excluded.op WHEN 'D' THEN 'D' ELSE 'U' END
    ELSE CASE excluded.op WHEN 'D' THEN 'D' ELSE 'U' END END,
  first_group = CASE ferry_outbox.op WHEN '${NOTHING}' THEN excluded.first_group ELSE ferry_outbox.first_group END,
  first_at = CASE ferry_outbox.op WHEN '${NOTHING}' THEN excluded.first_at ELSE ferry_outbox.first_at END,
  last_group = excluded.last_group`;

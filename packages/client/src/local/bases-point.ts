/**
 * The bases point: the newest history point (`bundleSeq`, token) a push or conflict answer told
 * the file of, above its checkpoint. Such answers teach the file row versions its checkpoint does
 * not vouch for (a committed push's versions, a conflict's `serverVersion`s), and changes are made
 * on them (pins, the bundle in flight, dead letters, manual conflicts). A server restored from a
 * backup taken after the checkpoint keeps the checkpoint's history but not those versions, which
 * then name other states of the same rows. So the point goes with every push (`basesAt`) and
 * snapshot request until the checkpoint's own history covers it, and when the server does not
 * have it, what the file learned above `floor` is forgotten.
 *
 * Rules (the server checks the point in the transaction that answers, so a point an answer
 * replaces was confirmed by that very answer):
 * 1. An answer's point above the checkpoint is learned when it is newer than the one held;
 *    `floor` is the checkpoint when the first unconfirmed point was learned and stays until the
 *    point is settled.
 * 2. A pulled bundle at the point's seq settles it: the same token confirms it (the checkpoint's
 *    token chain covers it from then on); another token means the server's history differs
 *    there, and the versions above `floor` are forgotten.
 * 3. A 410 `cursor_unknown` for the push's `basesAt` forgets the versions above `floor` and
 *    settles the point; a hydration asks for its snapshot at the point and settles it.
 *
 * @module
 */
import type { Bundle, HistoryPoint } from '@ferry/protocol';
import {
  forgetLostCommit,
  readCheckpoint,
  readState,
  writeState,
  type Executor,
} from './metadata.js';

/** The bases point as the file keeps it. */
export interface BasesPoint extends HistoryPoint {
  /** The checkpoint when the first unconfirmed point was learned. */
  readonly floor: number;
}

/** The point the file holds, or null when its checkpoint vouches for everything it learned. */
export async function readBasesPoint(db: Executor): Promise<BasesPoint | null> {
  const raw = (await readState(db, 'bases_point')) as string | null;
  return raw === null ? null : (JSON.parse(raw) as BasesPoint);
}

/** The `basesAt` member of a push or sync body: empty when the file holds no point. */
export function basesAtMember(point: BasesPoint | null): { basesAt?: HistoryPoint } {
  return point === null ? {} : { basesAt: { bundleSeq: point.bundleSeq, token: point.token } };
}

/** Rule 1: learns the point an answer gave (nothing without a token, or at the checkpoint). */
export async function learnBasesPoint(
  db: Executor,
  point: { readonly bundleSeq: number; readonly token?: string | undefined } | undefined,
): Promise<void> {
  if (point?.token === undefined) return;
  const checkpoint = await readCheckpoint(db);
  if (point.bundleSeq <= checkpoint) return;
  const held = await readBasesPoint(db);
  if (held !== null && held.bundleSeq >= point.bundleSeq) return;
  const next: BasesPoint = {
    bundleSeq: point.bundleSeq,
    token: point.token,
    floor: held?.floor ?? checkpoint,
  };
  await writeState(db, 'bases_point', JSON.stringify(next));
}

/** Forgets the point without touching anything else (it is confirmed, or its history is gone). */
export async function clearBasesPoint(db: Executor): Promise<void> {
  await db.run("DELETE FROM ferry_state WHERE key = 'bases_point'");
}

/**
 * Rule 2, for a page about to be applied: the bundle at the point's seq confirms or refutes it.
 * Runs before the page is applied, so what the page teaches (its acknowledgement, pins) is not
 * forgotten with the refuted versions. Returns whether the point was refuted.
 */
export async function settleBasesPointByPull(
  db: Executor,
  bundles: readonly Pick<Bundle, 'bundleSeq' | 'token'>[],
): Promise<boolean> {
  const point = await readBasesPoint(db);
  if (point === null) return false;
  const met = bundles.find((bundle) => bundle.bundleSeq === point.bundleSeq);
  if (met === undefined) return false;
  const refuted = met.token !== undefined && met.token !== point.token;
  if (refuted) await forgetLostCommit(db, point.floor);
  await clearBasesPoint(db);
  return refuted;
}

/** Rule 3: the server refused the point; the versions learned above `floor` go. */
export async function forgetBasesPoint(db: Executor): Promise<void> {
  const point = await readBasesPoint(db);
  if (point !== null) await forgetLostCommit(db, point.floor);
  await clearBasesPoint(db);
}

/** What a harness server committed, read from its SQLite file (for counting pushes). */
import Database from 'better-sqlite3';
import type { Harness } from '../../support/ferry-harness.js';

/** The bundles the server committed for a user, in order, with the push each came from. */
export function serverBundles(
  harness: Harness,
  userId: string,
): { sourceBundleId: number | null }[] {
  const db = new Database(harness.serverPath, { readonly: true, fileMustExist: true });
  try {
    return db
      .prepare(
        'SELECT source_bundle_id AS sourceBundleId FROM ferry_bundles WHERE user_id = ? ORDER BY bundle_seq',
      )
      .all(userId) as { sourceBundleId: number | null }[];
  } finally {
    db.close();
  }
}

import { FerryError } from '@ferry/protocol';
import type { LocalParts } from '../engine-context.js';
import {
  clearSettledConflicts as clearJournal,
  readSettledConflicts,
} from '../local/settled-journal.js';
import type { SettledConflict, SettledConflictsQuery } from '../types.js';

/**
 * The journal of settled conflicts, newest first: at most `limit` entries (default: all kept),
 * settled at or after `since` when given. Throws `invalid_argument` for a bad query.
 */
export async function listSettledConflicts(
  parts: LocalParts,
  query: SettledConflictsQuery = {},
): Promise<SettledConflict[]> {
  if (typeof query !== 'object' || query === null) {
    throw new FerryError('invalid_argument', 'settledConflicts takes { limit?, since? }');
  }
  const { limit, since } = query;
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1)) {
    throw new FerryError('invalid_argument', 'limit must be an integer ≥ 1');
  }
  if (since !== undefined && !Number.isFinite(since)) {
    throw new FerryError('invalid_argument', 'since must be a time in ms');
  }
  return readSettledConflicts(parts.db, {
    limit: limit ?? -1,
    since,
  });
}

/**
 * Removes journal entries the app has dealt with: those with an id up to `throughId` (the
 * newest one it showed, so an entry journaled meanwhile stays), or all. Resolves with how many
 * were removed. Throws `invalid_argument` for a bad id.
 */
export async function clearSettledConflicts(
  parts: LocalParts,
  options: { readonly throughId?: number } = {},
): Promise<number> {
  const throughId = options?.throughId;
  if (throughId !== undefined && !Number.isSafeInteger(throughId)) {
    throw new FerryError('invalid_argument', 'throughId must be the id of a journal entry');
  }
  return clearJournal(parts.db, throughId);
}

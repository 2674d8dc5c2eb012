import { FerryError } from '@ferry/protocol';
import type { ClientCore } from '../client-core.js';
import { writeState } from '../local/metadata.js';
import { fetchToken } from './transport.js';

/**
 * The token's user must be the file's user: the first one seen is remembered (in the file and
 * the status); a token for another user is refused with `invalid_argument`, before anything of
 * the other user's data could mix with this file's.
 */
export async function checkIdentity(core: ClientCore): Promise<void> {
  const token = await fetchToken(core.tokens.get);
  const userId = subjectOf(token);
  if (userId === null) return;
  if (core.userId === null) {
    await writeState(core.db, 'user_id', userId);
    core.userId = userId;
    core.observer.setStatus({ userId });
    return;
  }
  if (core.userId !== userId) {
    throw new FerryError(
      'invalid_argument',
      `the token is for user "${userId}" but this database holds the data of "${core.userId}"`,
      { details: { tokenUserId: userId, databaseUserId: core.userId } },
    );
  }
}

/** The `sub` claim of a JWT, read without verifying it (the server verifies). */
export function subjectOf(token: string): string | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const json = atob(payload.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json) as { sub?: unknown };
    return typeof claims.sub === 'string' && claims.sub.length > 0 ? claims.sub : null;
  } catch {
    return null;
  }
}

import { FerryError } from '@ferry/protocol';
import type { SerialDatabase } from '../driver/serial-database.js';
import type { FileUser } from '../local/file-user.js';
import type { EngineEvent } from '../status/engine-event.js';
import type { TokenSource } from './token-source.js';
import { fetchToken } from './transport.js';

/**
 * The token's user must be the file's user: the first one seen is remembered (in the file and
 * the status); a token for another user is refused with `invalid_argument`, before anything of
 * the other user's data could mix with this file's.
 */
export async function checkIdentity(deps: {
  readonly db: SerialDatabase;
  readonly tokens: Pick<TokenSource, 'get'>;
  readonly user: FileUser;
}): Promise<EngineEvent[]> {
  const { user } = deps;
  const token = await fetchToken(deps.tokens.get);
  const userId = subjectOf(token);
  if (userId === null) return [];
  if (user.id === null) {
    await user.remember(deps.db, userId);
    return [{ type: 'user-identified', userId }];
  }
  if (user.id !== userId) {
    throw new FerryError(
      'invalid_argument',
      `the token is for user "${userId}" but this database holds the data of "${user.id}"`,
      { details: { tokenUserId: userId, databaseUserId: user.id } },
    );
  }
  return [];
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

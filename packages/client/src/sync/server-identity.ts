import { FerryError } from '@ferry/protocol';
import { readState, writeState, type Executor } from '../local/metadata.js';

/**
 * The identity of the server database this file syncs with (`serverId` of pull answers and
 * snapshots): remembered from the first answer that names one. An answer from another database
 * (the server's data was replaced, or the URL now points elsewhere) throws `cursor_unknown` with
 * `details.reason` `server_changed`: the checkpoint means nothing there, so the cycle hydrates
 * again, keeping every local change (see `forgetCommit`).
 */
export async function checkServerId(db: Executor, serverId: string | undefined): Promise<void> {
  if (serverId === undefined) return;
  const known = (await readState(db, 'server_id')) as string | null;
  if (known === serverId) return;
  if (known === null) {
    await writeState(db, 'server_id', serverId);
    return;
  }
  throw new FerryError(
    'cursor_unknown',
    `the server answering is another database (server id ${serverId}; this file synced with ${known}): hydrating again`,
    { details: { reason: 'server_changed', serverId, knownServerId: known } },
  );
}

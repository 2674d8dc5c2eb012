import type { Conflict, HistoryPoint } from '@ferry/protocol';
import { learnBasesPoint } from '../local/bases-point.js';
import type { EngineSettings, LocalParts } from '../engine-context.js';
import type { FrozenBundle } from '../local/metadata.js';
import { bundleRef, type EngineEvent } from '../status/engine-event.js';
import type { ResolverLookup } from './resolver-lookup.js';
import { settleConflicts } from './settle-conflicts.js';

/**
 * The server refused our bundle with a 409: settles every conflicting row through its
 * resolver in one transaction (see {@link settleConflicts}), after learning the history point
 * the conflicts were judged on. Its event: `conflicts-settled`, with each outcome and every value
 * a policy replaced.
 */
export async function settleConflictAnswer(
  deps: LocalParts & {
    readonly resolverOf: ResolverLookup;
    readonly settings: Pick<EngineSettings, 'maxConflictRetries' | 'maxSettledConflicts'>;
  },
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
  head: HistoryPoint | undefined,
): Promise<EngineEvent[]> {
  const { db, ctx, settings } = deps;
  const { reports, journaled } = await db.transaction(
    async (tx) => {
      // The conflicts' server versions come from the history up to `head`.
      await learnBasesPoint(tx, head);
      return settleConflicts(tx, ctx, bundle, conflicts, {
        resolverOf: deps.resolverOf,
        maxAttempts: settings.maxConflictRetries,
        journalLimit: settings.maxSettledConflicts,
      });
    },
    { foreignKeysOff: true },
  );
  return [{ type: 'conflicts-settled', ref: bundleRef(ctx.sourceId, bundle), reports, journaled }];
}

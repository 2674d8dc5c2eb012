import type { Conflict, HistoryPoint } from '@ferry/protocol';
import { learnBasesPoint } from '../local/bases-point.js';
import type { ClientCore } from '../client-core.js';
import type { FrozenBundle } from '../local/metadata.js';
import type { CycleReport } from './cycle-report.js';
import { settleConflicts } from './settle-conflicts.js';

/**
 * The server refused our bundle with a 409: settles every conflicting row through its
 * resolver in one transaction (see {@link settleConflicts}), then reports, counts and logs each
 * outcome and every value a policy replaced, announces those (`settled-conflicts`), and
 * announces the rows whose server version was adopted.
 */
export async function settleConflictAnswer(
  core: ClientCore,
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
  head: HistoryPoint | undefined,
  report: CycleReport,
): Promise<void> {
  const { ctx, observer } = core;
  const { reports, journaled } = await core.db.transaction(
    async (tx) => {
      // The conflicts' server versions come from the history up to `head`.
      await learnBasesPoint(tx, head);
      return settleConflicts(tx, ctx, bundle, conflicts, {
        resolverOf: core.resolverOf,
        maxAttempts: core.settings.maxConflictRetries,
        journalLimit: core.settings.maxSettledConflicts,
      });
    },
    { foreignKeysOff: true },
  );
  const correlationId = `${ctx.sourceId}:${bundle.sourceBundleId}`;
  report.conflicts.push(...reports);
  report.settledConflicts.push(...journaled);
  core.metrics.conflicts += reports.length;
  core.metrics.settledConflicts += journaled.length;
  for (const conflict of reports) {
    observer.log(
      conflict.outcome === 'manual' ? 'warn' : 'info',
      'conflict',
      `${conflict.table} ${String(conflict.pk)}: ${conflict.outcome}`,
      {
        correlationId,
        table: conflict.table,
        pk: conflict.pk,
        outcome: conflict.outcome,
      },
    );
  }
  for (const entry of journaled) {
    observer.log(
      'info',
      'settled-conflict',
      `${entry.table} ${String(entry.pk)}: ${entry.rule} replaced the ${entry.loser} value of ${entry.columns.join(', ')}`,
      {
        correlationId,
        id: entry.id,
        table: entry.table,
        pk: entry.pk,
        rule: entry.rule,
        loser: entry.loser,
        columns: entry.columns.join(','),
      },
    );
  }
  if (journaled.length > 0) observer.emit({ type: 'settled-conflicts', entries: journaled });
  const adopted = reports.filter((c) => c.outcome === 'adopt-server');
  if (adopted.length > 0) {
    observer.emit({
      type: 'remote-change',
      tables: [...new Set(adopted.map((c) => c.table))],
      rows: adopted.length,
      checkpoint: observer.engine.checkpoint ?? 0,
    });
  }
}

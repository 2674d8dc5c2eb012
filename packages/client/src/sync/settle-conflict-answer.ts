import type { Conflict } from '@ferry/protocol';
import type { ClientCore } from '../client-core.js';
import type { FrozenBundle } from '../local/metadata.js';
import type { CycleReport } from './cycle-report.js';
import { settleConflicts } from './settle-conflicts.js';

/**
 * The server refused our bundle with a 409: settles every conflicting row through its
 * resolver in one transaction (see {@link settleConflicts}), then reports, counts and logs each
 * outcome and announces the rows whose server version was adopted.
 */
export async function settleConflictAnswer(
  core: ClientCore,
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
  report: CycleReport,
): Promise<void> {
  const { ctx, observer } = core;
  const reports = await core.db.transaction(
    (tx) =>
      settleConflicts(
        tx,
        ctx,
        bundle,
        conflicts,
        core.resolverOf,
        core.settings.maxConflictRetries,
      ),
    { foreignKeysOff: true },
  );
  report.conflicts.push(...reports);
  core.metrics.conflicts += reports.length;
  for (const conflict of reports) {
    observer.log(
      conflict.outcome === 'manual' ? 'warn' : 'info',
      'conflict',
      `${conflict.table} ${String(conflict.pk)}: ${conflict.outcome}`,
      {
        correlationId: `${ctx.sourceId}:${bundle.sourceBundleId}`,
        table: conflict.table,
        pk: conflict.pk,
        outcome: conflict.outcome,
      },
    );
  }
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

/**
 * The one place that turns what the engine did ({@link EngineEvent}) into what the app sees of
 * it: the cycle's report, the counters (`client.metrics()`), the structured log, the status and
 * the client's events (`remote-change`, `settled-conflicts`).
 *
 * @module
 */
import type { FerryError } from '@ferry/protocol';
import type { SyncMetrics } from '../scheduler/sync-status.js';
import type { ClientEvent, ClientObserver } from './client-observer.js';
import { failureRecordOf, inFlightStatusOf, type EngineState } from './client-status.js';
import { emptyCycleReport, type CycleReport } from './cycle-report.js';
import type { EngineEvent, Recorder } from './engine-event.js';

/**
 * Records the engine's events into the observer and the counters; {@link forCycle} gives a
 * recorder that also writes a cycle's report.
 */
export class EngineRecorder implements Recorder {
  readonly #observer: ClientObserver;
  readonly #metrics: SyncMetrics;
  /** The state to return to when a hydration ends (it runs inside a cycle's state). */
  #beforeHydration: EngineState = 'idle';

  constructor(observer: ClientObserver, metrics: SyncMetrics) {
    this.#observer = observer;
    this.#metrics = metrics;
  }

  record(...events: readonly EngineEvent[]): void {
    for (const event of events) this.#record(event, null);
  }

  /** Hands a cycle's error to the app's `onError` (after the status shows it). */
  reportError(error: FerryError): void {
    this.#observer.reportError(error);
  }

  /** A recorder whose events also go into `report`, the report of one cycle. */
  forCycle(report: CycleReport = emptyCycleReport()): Recorder & { readonly report: CycleReport } {
    return {
      report,
      record: (...events) => {
        for (const event of events) this.#record(event, report);
      },
    };
  }

  #record(event: EngineEvent, report: CycleReport | null): void {
    const observer = this.#observer;
    const metrics = this.#metrics;
    switch (event.type) {
      case 'cycle-started':
        if (!event.scheduled) {
          metrics.cycles++;
          if (event.kind === 'full' || event.kind === 'push') metrics.pushes++;
          if (event.kind === 'full' || event.kind === 'pull') metrics.pulls++;
          if (event.kind === 'hydrate') metrics.hydrations++;
        }
        observer.setStatus({ state: event.kind === 'hydrate' ? 'hydrating' : 'syncing' });
        return;
      case 'cycle-succeeded': {
        const { report: done } = event;
        if (!event.scheduled) metrics.cyclesSucceeded++;
        observer.setStatus({
          state: 'idle',
          lastError: null,
          lastFailure: null,
          consecutiveFailures: 0,
          lastSyncAt: event.at,
        });
        observer.log('debug', 'cycle-report', `${event.kind} cycle done`, {
          kind: event.kind,
          pushed: done.pushed,
          pulled: done.pulled,
          conflicts: done.conflicts.length,
          deadLettered: done.deadLettered.length,
          hydrated: done.hydrated,
          checkpoint: done.checkpoint,
        });
        return;
      }
      case 'cycle-aborted':
        if (!event.scheduled) metrics.cyclesAborted++;
        observer.setStatus({ state: 'idle' });
        return;
      case 'cycle-closed':
        observer.setStatus({ state: 'closed' });
        return;
      case 'cycle-failed':
        if (!event.scheduled) metrics.cyclesFailed++;
        observer.setStatus({
          state: event.error.code === 'unauthorized' ? 'blocked-auth' : 'error',
          lastError: event.error,
          lastFailure: failureRecordOf(event.error, event.at),
          consecutiveFailures: observer.engine.consecutiveFailures + 1,
        });
        return;
      case 'user-identified':
        observer.setStatus({ userId: event.userId });
        return;
      case 'bundle-frozen':
        observer.setStatus({ inFlight: inFlightStatusOf(event.bundle) });
        observer.log('debug', 'bundle-frozen', `bundle ${event.ref.sourceBundleId} frozen`, {
          correlationId: event.ref.correlationId,
          sourceBundleId: event.ref.sourceBundleId,
          changes: event.bundle.changes.length,
        });
        return;
      case 'bundle-committed': {
        const changes = event.bundle.changes.length;
        if (report) {
          report.pushed += changes;
          report.bundlesPushed++;
        }
        metrics.rowsPushed += changes;
        observer.log(
          'info',
          'bundle-committed',
          `bundle ${event.ref.sourceBundleId} committed as ${event.bundleSeq}`,
          {
            correlationId: event.ref.correlationId,
            sourceBundleId: event.ref.sourceBundleId,
            bundleSeq: event.bundleSeq,
            changes,
          },
        );
        observer.setStatus({
          lastPushAt: event.at,
          inFlight: { ...inFlightStatusOf(event.bundle), committedSeq: event.bundleSeq },
        });
        if (event.keys !== undefined && event.keys.length > 0) {
          observer.log(
            'info',
            'keys-assigned',
            `${event.keys.length} row${event.keys.length === 1 ? '' : 's'} took the server's keys`,
            { correlationId: event.ref.correlationId, rows: event.keys.length },
          );
          // The app sees the rows under their final keys.
          observer.emit({
            type: 'remote-change',
            tables: [...(event.tables ?? [])],
            rows: event.keys.length,
            checkpoint: observer.engine.checkpoint ?? 0,
          });
        }
        return;
      }
      case 'pulled':
        if (report) {
          report.pulled += event.rows;
          report.bundlesPulled += event.bundles;
          report.warnings.push(...event.warnings);
        }
        metrics.rowsPulled += event.rows;
        observer.setStatus({
          lastPullAt: event.at,
          checkpoint: event.checkpoint,
          integrity: null,
          ...(event.acked ? { inFlight: null } : {}),
        });
        if (event.bundles > 0) {
          observer.log('debug', 'pulled', `applied ${event.bundles} bundle(s)`, {
            bundles: event.bundles,
            rows: event.rows,
            checkpoint: event.checkpoint,
            firstBundleSeq: event.firstBundleSeq,
          });
        }
        if (event.rows > 0) observer.emit(remoteChangeOf(event));
        return;
      case 'hydration-started':
        this.#beforeHydration = observer.engine.state;
        observer.setStatus({ state: 'hydrating' });
        return;
      case 'hydrated':
        if (report) {
          report.hydrated = true;
          report.pulled += event.rows;
          report.warnings.push(...event.warnings);
        }
        metrics.rowsPulled += event.rows;
        observer.setStatus({
          state: this.#beforeHydration,
          checkpoint: event.checkpoint,
          lastPullAt: event.at,
          integrity: null,
        });
        observer.log('info', 'hydrated', `hydrated ${event.rows} rows`, {
          rows: event.rows,
          checkpoint: event.checkpoint,
        });
        observer.emit(remoteChangeOf(event));
        return;
      case 'integrity-refused':
        observer.setStatus({ integrity: { at: event.at, violations: [...event.violations] } });
        return;
      case 'conflicts-settled': {
        const { ref, reports, journaled } = event;
        if (report) {
          report.conflicts.push(...reports);
          report.settledConflicts.push(...journaled);
        }
        metrics.conflicts += reports.length;
        metrics.settledConflicts += journaled.length;
        for (const conflict of reports) {
          observer.log(
            conflict.outcome === 'manual' ? 'warn' : 'info',
            'conflict',
            `${conflict.table} ${String(conflict.pk)}: ${conflict.outcome}`,
            {
              correlationId: ref.correlationId,
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
              correlationId: ref.correlationId,
              id: entry.id,
              table: entry.table,
              pk: entry.pk,
              rule: entry.rule,
              loser: entry.loser,
              columns: entry.columns.join(','),
            },
          );
        }
        if (journaled.length > 0) {
          observer.emit({ type: 'settled-conflicts', entries: [...journaled] });
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
        return;
      }
      case 'dead-lettered':
        if (report) report.deadLettered.push(...event.letters);
        metrics.deadLetters += event.letters.length;
        for (const letter of event.letters) {
          observer.log(
            'warn',
            'dead-lettered',
            `${letter.table} ${String(letter.pk)}: ${letter.message}`,
            {
              correlationId: event.ref.correlationId,
              table: letter.table,
              pk: letter.pk,
              code: letter.code,
              status: event.status,
            },
          );
        }
        return;
      case 'bases-forgotten':
        observer.log(
          'warn',
          'bases-forgotten',
          'the server does not have the history point our bases were learned at (restored from a backup): versions learned above the checkpoint are forgotten',
          { correlationId: event.ref.correlationId },
        );
        return;
      case 'source-rotated':
        metrics.sourceRotations++;
        observer.log(
          'warn',
          'source-rotated',
          `source ${event.previous} rotated to ${event.next} (${event.reason}); pending changes go out under the new id`,
          { previousSourceId: event.previous, sourceId: event.next, reason: event.reason },
        );
        observer.setStatus({
          sourceId: event.next,
          ...(event.frozen ? { inFlight: inFlightStatusOf(event.frozen) } : {}),
        });
        return;
      case 'counts-read':
        observer.setStatus({
          pending: event.pending,
          oldestPendingAt: event.oldestPendingAt,
          oldestPendingAgeMs:
            event.oldestPendingAt === null ? null : Math.max(0, event.at - event.oldestPendingAt),
          inFlight: event.frozen ? inFlightStatusOf(event.frozen) : null,
          checkpoint: event.checkpoint,
          conflicts: event.conflicts,
          settledConflicts: event.settledConflicts,
          deadLetters: event.deadLetters,
        });
        return;
    }
  }
}

/** The app's `remote-change` event of a page or a snapshot applied. */
function remoteChangeOf(applied: {
  readonly tables: readonly string[];
  readonly rows: number;
  readonly checkpoint: number;
}): ClientEvent {
  return {
    type: 'remote-change',
    tables: applied.tables,
    rows: applied.rows,
    checkpoint: applied.checkpoint,
  };
}

import { FerryError } from '@ferry/protocol';
import { needsHydration, runHydration } from './run-hydration.js';
import type { ClientCore } from '../client-core.js';
import { readState } from '../local/metadata.js';
import { failureRecordOf } from '../status/client-status.js';
import type { SyncKind, SyncReport } from '../types.js';
import { checkIdentity } from './check-identity.js';
import { abortedError, asFerryError } from './cycle-errors.js';
import { emptyCycleReport } from './cycle-report.js';
import { runExchangeLoop } from './exchange-loop.js';

/** Options of one cycle (`sync`, `hydrate`, and the scheduler's `runCycle`). */
export interface RunCycleOptions {
  readonly kind: SyncKind;
  readonly signal?: AbortSignal | undefined;
  readonly maxRoundTrips?: number | undefined;
  /** Called in a `full` cycle once the push half is done and only pulling is left. */
  readonly onPhase?: ((phase: 'pull') => void) | undefined;
}

/** What a {@link CycleRunner} needs from the client around it. */
export interface CycleRunnerHost {
  /** False once the client is closing or its database closed. */
  isOpen(): boolean;
  /** Refreshes the status' counts from the file (after every cycle). */
  refreshStatus(): Promise<unknown>;
}

const DEFAULT_MAX_ROUND_TRIPS = 1_000;

/**
 * Runs sync cycles one after another (a cycle starts when the one before it ended), each with
 * its frame: the identity check, a hydration when one is due, the round trips, and the status,
 * counters and report around them. A failed cycle throws its {@link FerryError} after putting it
 * in the status and handing it to `onError`; an aborted one (the caller's signal) is not a
 * failure; `close` aborts the running cycle through {@link abort}.
 */
export class CycleRunner {
  readonly #core: ClientCore;
  readonly #host: CycleRunnerHost;
  readonly #closer = new AbortController();
  #cycles: Promise<unknown> = Promise.resolve();

  constructor(core: ClientCore, host: CycleRunnerHost) {
    this.#core = core;
    this.#host = host;
  }

  /**
   * Runs a cycle after the ones before it. `scheduled`: the scheduler's cycle (it counts its
   * own cycles in the metrics).
   */
  run(options: RunCycleOptions, scheduled: boolean): Promise<SyncReport> {
    if (!this.#host.isOpen()) {
      return Promise.reject(new FerryError('closed', 'the client is closed'));
    }
    const run = this.#cycles.then(() => this.#cycle(options, scheduled));
    this.#cycles = run.catch(() => undefined);
    return run;
  }

  /** Aborts the running cycle, and every later one, with `reason` (the client is closing). */
  abort(reason: FerryError): void {
    this.#closer.abort(reason);
  }

  /** Resolves when every cycle started so far has ended. */
  settled(): Promise<void> {
    return this.#cycles.then(
      () => undefined,
      () => undefined,
    );
  }

  async #cycle(options: RunCycleOptions, scheduled: boolean): Promise<SyncReport> {
    const core = this.#core;
    const { observer, metrics } = core;
    if (!this.#host.isOpen()) throw new FerryError('closed', 'the client is closed');
    if (options.signal?.aborted) throw abortedError(options.signal);
    if (!scheduled) {
      metrics.cycles++;
      if (options.kind === 'full' || options.kind === 'push') metrics.pushes++;
      if (options.kind === 'full' || options.kind === 'pull') metrics.pulls++;
      if (options.kind === 'hydrate') metrics.hydrations++;
    }
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closer.signal])
      : this.#closer.signal;
    const report = emptyCycleReport();
    observer.setStatus({ state: options.kind === 'hydrate' ? 'hydrating' : 'syncing' });
    try {
      await checkIdentity(core);
      if (options.kind === 'hydrate' || (await needsHydration(core))) {
        await runHydration(core, signal, report);
      }
      if (options.kind !== 'hydrate') {
        await runExchangeLoop(
          core,
          {
            kind: options.kind,
            signal,
            maxRoundTrips: options.maxRoundTrips ?? DEFAULT_MAX_ROUND_TRIPS,
            onPhase: options.onPhase,
          },
          report,
        );
      }
      const checkpoint = ((await readState(core.db, 'checkpoint')) as number | null) ?? 0;
      if (!scheduled) metrics.cyclesSucceeded++;
      observer.setStatus({
        state: 'idle',
        lastError: null,
        lastFailure: null,
        consecutiveFailures: 0,
        lastSyncAt: core.ctx.now(),
      });
      await this.#host.refreshStatus().catch(() => undefined);
      observer.log('debug', 'cycle-report', `${options.kind} cycle done`, {
        kind: options.kind,
        pushed: report.pushed,
        pulled: report.pulled,
        conflicts: report.conflicts.length,
        deadLettered: report.deadLettered.length,
        hydrated: report.hydrated,
        checkpoint,
      });
      return { ...report, checkpoint, bundleSeq: checkpoint };
    } catch (caught) {
      const error = asFerryError(caught, signal);
      if (this.#closer.signal.aborted) {
        observer.setStatus({ state: 'closed' });
        throw error;
      }
      if (options.signal?.aborted) {
        // The caller stopped the cycle (the scheduler going offline, say): not a failure.
        if (!scheduled) metrics.cyclesAborted++;
        observer.setStatus({ state: 'idle' });
        await this.#host.refreshStatus().catch(() => undefined);
        throw error;
      }
      if (!scheduled) metrics.cyclesFailed++;
      observer.setStatus({
        state: error.code === 'unauthorized' ? 'blocked-auth' : 'error',
        lastError: error,
        lastFailure: failureRecordOf(error, core.ctx.now()),
        consecutiveFailures: observer.engine.consecutiveFailures + 1,
      });
      await this.#host.refreshStatus().catch(() => undefined);
      observer.reportError(error);
      throw error;
    }
  }
}

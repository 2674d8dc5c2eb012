import { FerryError } from '@ferry/protocol';
import { needsHydration, runHydration } from './run-hydration.js';
import type { FileUser } from '../local/file-user.js';
import { readState } from '../local/metadata.js';
import type { EngineRecorder } from '../status/engine-recorder.js';
import type { SyncKind, SyncReport } from '../types.js';
import { checkIdentity } from './check-identity.js';
import { abortedError, asFerryError, integrityRefusalOf } from './cycle-errors.js';
import type { ExchangeParts } from './exchange-parts.js';
import { runExchangeLoop } from './exchange-loop.js';
import type { TokenSource } from './token-source.js';

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

/** What cycles need: the exchange's parts, the token source and the file's user. */
export interface CycleParts extends Omit<ExchangeParts, 'recorder'> {
  readonly tokens: Pick<TokenSource, 'get'>;
  readonly user: FileUser;
  /** Records every cycle's events (each cycle gets its report from it). */
  readonly recorder: EngineRecorder;
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
  readonly #parts: CycleParts;
  readonly #host: CycleRunnerHost;
  readonly #closer = new AbortController();
  #cycles: Promise<unknown> = Promise.resolve();

  constructor(parts: CycleParts, host: CycleRunnerHost) {
    this.#parts = parts;
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
    const parts = this.#parts;
    const { db, ctx } = parts;
    if (!this.#host.isOpen()) throw new FerryError('closed', 'the client is closed');
    if (options.signal?.aborted) throw abortedError(options.signal);
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#closer.signal])
      : this.#closer.signal;
    const cycle = parts.recorder.forCycle();
    const deps = { ...parts, recorder: cycle };
    cycle.record({ type: 'cycle-started', kind: options.kind, scheduled });
    try {
      cycle.record(...(await checkIdentity(deps)));
      if (options.kind === 'hydrate' || (await needsHydration(db, parts.settings.initialSync))) {
        await runHydration(deps, signal);
      }
      const end =
        options.kind === 'hydrate'
          ? { morePush: false, morePull: false }
          : await runExchangeLoop(deps, {
              kind: options.kind,
              signal,
              maxRoundTrips: options.maxRoundTrips ?? DEFAULT_MAX_ROUND_TRIPS,
              onPhase: options.onPhase,
            });
      const checkpoint = ((await readState(db, 'checkpoint')) as number | null) ?? 0;
      const report: SyncReport = { ...cycle.report, ...end, checkpoint, bundleSeq: checkpoint };
      cycle.record({
        type: 'cycle-succeeded',
        kind: options.kind,
        scheduled,
        report,
        at: ctx.now(),
      });
      await this.#host.refreshStatus().catch(() => undefined);
      return report;
    } catch (caught) {
      const error = asFerryError(caught, signal);
      const refusal = integrityRefusalOf(error, ctx.now());
      if (refusal) cycle.record(refusal);
      if (this.#closer.signal.aborted) {
        cycle.record({ type: 'cycle-closed' });
        throw error;
      }
      if (options.signal?.aborted) {
        // The caller stopped the cycle (the scheduler going offline, say): not a failure.
        cycle.record({ type: 'cycle-aborted', scheduled });
        await this.#host.refreshStatus().catch(() => undefined);
        throw error;
      }
      cycle.record({ type: 'cycle-failed', scheduled, error, at: ctx.now() });
      await this.#host.refreshStatus().catch(() => undefined);
      this.#parts.recorder.reportError(error);
      throw error;
    }
  }
}

import { runHydration } from './run-hydration.js';
import type { SyncKind } from '../types.js';
import { abortedError, asFerryError, historyLossOf, isHistoryLost } from './cycle-errors.js';
import type { ExchangeParts } from './exchange-parts.js';
import {
  forgetHistory,
  hasPendingChanges,
  readState,
  type FrozenBundle,
} from '../local/metadata.js';
import { prepareBundle } from './prepare-bundle.js';
import { handleRejection } from './push-rejection.js';
import { pushRoundTrip } from './push-round-trip.js';
import { syncRoundTrip } from './sync-round-trip.js';

/** Options of {@link runExchangeLoop}. */
export interface ExchangeOptions {
  readonly kind: Exclude<SyncKind, 'hydrate'>;
  readonly signal: AbortSignal;
  readonly maxRoundTrips: number;
  /** Called in a `full` cycle once the push half is done and only pulling is left. */
  readonly onPhase?: ((phase: 'pull') => void) | undefined;
}

/** What a cycle's round trips left: `morePush`/`morePull` of its report. */
export interface ExchangeEnd {
  readonly morePush: boolean;
  readonly morePull: boolean;
}

/**
 * The round trips of a cycle: freeze (or resend) a bundle, push it and pull, until nothing is
 * left to push and the pull reached the server's horizon, or `maxRoundTrips` (the answer then
 * says what is left). A `full` or `pull` cycle always asks the server once. Expected refusals
 * are handled and the loop goes on (see `handleRejection`); a lost history, a rotated source id
 * or a changed schema is answered by one hydration per cycle; anything else throws.
 */
export async function runExchangeLoop(
  deps: ExchangeParts,
  options: ExchangeOptions,
): Promise<ExchangeEnd> {
  const { db, recorder } = deps;
  const { kind, signal, maxRoundTrips, onPhase } = options;
  let gapRenumbers = 0;
  let hydrations = 0;
  let needPull = kind !== 'push';
  let pushDone = kind !== 'full';
  for (let trip = 0; ; trip++) {
    if (signal.aborted) throw abortedError(signal);
    // A rotation of the source id (or a changed schema) asks for a snapshot first.
    if (hydrations === 0 && (await readState(db, 'needs_hydration')) === 1) {
      hydrations++;
      await runHydration(deps, signal);
    }
    let bundle: FrozenBundle | null = null;
    if (kind !== 'pull') {
      const prepared = await prepareBundle(deps);
      recorder.record(...prepared.events);
      bundle = prepared.bundle;
    }
    const toSend = bundle !== null && bundle.committedSeq === null ? bundle : null;
    if (toSend === null && !pushDone) {
      // Nothing left to push in this full cycle: only the pull remains.
      pushDone = true;
      onPhase?.('pull');
    }
    if (toSend === null && !needPull) {
      // A push-only cycle whose bundle waits for peers' bundles needs a pull to finish it.
      return { morePush: false, morePull: kind === 'push' && bundle !== null };
    }
    if (trip >= maxRoundTrips) {
      return { morePush: toSend !== null || (await hasPendingChanges(db)), morePull: needPull };
    }
    needPull = false;
    try {
      if (kind === 'push') {
        if (!(await pushRoundTrip(deps, toSend!, signal))) {
          return { morePush: false, morePull: true };
        }
      } else {
        const outcome = await syncRoundTrip(deps, kind, toSend, signal);
        needPull = outcome.hasMore;
      }
    } catch (caught) {
      const error = asFerryError(caught, signal);
      // The server does not have our history: what the file knew of it goes now, whichever
      // cycle hydrates next (this one, or one the scheduler runs for it).
      if (historyLossOf(error) === 'lost') await forgetHistory(db);
      const handled = toSend
        ? await handleRejection(deps, error, toSend, gapRenumbers)
        : isHistoryLost(error)
          ? 'history'
          : false;
      if (handled === 'gap') gapRenumbers++;
      if (handled === 'history' && hydrations++ === 0) {
        await runHydration(deps, signal);
        needPull = kind !== 'push';
        continue;
      }
      if (handled === false || handled === 'history') throw error;
      needPull = kind !== 'push';
    }
  }
}

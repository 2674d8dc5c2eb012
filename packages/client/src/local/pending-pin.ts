/**
 * The pin of a pending outbox entry: the server state (version and base row) the app's edit of
 * the row was made on, when that is no longer the row's server state in `ferry_rows`. A freeze
 * takes the base from the pin when there is one, else from `ferry_rows`.
 *
 * Invariants (every transition below keeps them; the simulator's invariant i checks the pushes):
 * 1. An unpinned entry was made on the row's current server state (`ferry_rows`): no remote
 *    effect reached the row since the edit, or the edit's base is our own commit of the row.
 * 2. A pinned entry keeps the first pin it got: later remote effects move `ferry_rows`, never
 *    the pin, so the push meets the server's newer version as a conflict with the right base.
 * 3. An edit stacked on the row's change in flight is never pinned by a remote effect (a pull or
 *    a snapshot): it was made on that change's result, known only when the change settles.
 * 4. When the change in flight settles, a stacked edit gets its base from how it settled:
 *    acknowledged in order, unpinned (our commit is the server state, invariant 1); committed at
 *    or before the checkpoint (late), pinned to our commit as the server answered it (the
 *    change's own base where the file knows no commit of the row); adopted (the server's row
 *    won), pinned to the base the change was made on. An upsert that committed but left the row
 *    deleted (a cascade it did not know of) pins its stacked edit to no base (`decideSettledRow`):
 *    the edit meets the delete as a conflict.
 * 5. A frozen change put back in the outbox (refused, dead-lettered and retried, set aside) is
 *    pinned to the base it was made on; edits made since are coalesced into it.
 * 6. After a lost history the versions of pins belong to it: they are dropped (the base rows
 *    stay), so each push meets a conflict and merges by content.
 *
 * @module
 */
import type { Row } from '@ferry/protocol';

/** The pin fields of a pending entry. */
export interface Pin {
  readonly pinned: boolean;
  readonly pinVersion: number | null;
  readonly pinBase: Row | null;
}

/** No pin: the edit was made on the row's current server state (invariant 1). */
export const UNPINNED: Pin = { pinned: false, pinVersion: null, pinBase: null };

/** Pinned to a server state: `version` and `base` (null for a row the server did not have). */
export function pinnedTo(version: number | null, base: Row | null): Pin {
  return { pinned: true, pinVersion: version, pinBase: base };
}

/**
 * The pin after a remote effect moved the row's server state from `known` (invariants 2, 3):
 * a pinned entry keeps its pin, a stacked one stays unpinned, any other is pinned to `known`.
 */
export function pinOnRemoteEffect(
  current: Pin,
  known: { readonly version: number; readonly base: Row | null } | undefined,
  stacked: boolean,
): Pin {
  if (current.pinned || stacked) return current;
  return pinnedTo(known?.version ?? null, known?.base ?? null);
}

/** How the change in flight under a stacked edit settled (invariant 4). */
export type Settlement =
  | { readonly kind: 'ack' }
  | {
      readonly kind: 'late-ack';
      /**
       * What the file knows of our commit of the row (`readStackBase`): its version, when the
       * server answered with one, and its base row.
       */
      readonly ours: { readonly version: number | null; readonly base: Row | null } | undefined;
      readonly changeBaseVersion: number | null;
      readonly changeBase: Row | null;
    }
  | {
      readonly kind: 'adopted';
      readonly changeBaseVersion: number | null;
      readonly changeBase: Row | null;
    };

/** The pin of a stacked edit once the change in flight under it settled (invariant 4). */
export function pinOnSettlement(settlement: Settlement): Pin {
  switch (settlement.kind) {
    case 'ack':
      return UNPINNED;
    case 'late-ack': {
      const { ours } = settlement;
      return pinnedTo(
        ours?.version ?? settlement.changeBaseVersion,
        ours ? ours.base : settlement.changeBase,
      );
    }
    case 'adopted':
      return pinnedTo(settlement.changeBaseVersion, settlement.changeBase);
  }
}

import type { Change, ForbiddenDetails, ProtocolErrorCode, ValidationError } from '@ferry/protocol';
import type { CursorDecision } from './decide-cursor.js';
import type { ForbiddenChange, SourceBundleDecision } from './decide-push.js';
import type { RefusedChange } from './judge-changes.js';

/**
 * An error answer a store decided on, as a value (a rejected request changes nothing).
 * Every store builds its rejections with the functions below, so both answer alike.
 */
export interface Rejection {
  readonly kind: 'rejected';
  readonly code: ProtocolErrorCode;
  readonly message: string;
  readonly details?: unknown;
}

/**
 * 410 for a refused pull cursor ({@link decideCursor}); `cursor_unknown` says why in
 * `details.reason`. Either way the client must hydrate from a snapshot.
 */
export function cursorRejection(
  decision: CursorDecision,
  after: number,
  point?: 'bases',
): Rejection {
  if (decision.kind === 'history_pruned') {
    return {
      kind: 'rejected',
      code: 'history_pruned',
      message: `pull cursor ${after} is older than the retained history: hydrate from a snapshot`,
    };
  }
  // The shape of the protocol's CursorUnknownDetailsSchema.
  if (point === 'bases') {
    return {
      kind: 'rejected',
      code: 'cursor_unknown',
      message:
        decision.reason === 'ahead'
          ? `basesAt ${after} is newer than anything this server has committed (a server restored from a backup): versions learned from answers above the checkpoint must be forgotten`
          : `the history token of basesAt ${after} is not this server's (a server restored from a backup): versions learned from answers above the checkpoint must be forgotten`,
      details: { reason: decision.reason, point },
    };
  }
  const details = { reason: decision.reason };
  return {
    kind: 'rejected',
    code: 'cursor_unknown',
    message:
      decision.reason === 'ahead'
        ? `pull cursor ${after} is newer than anything this server has committed (a server restored from a backup, or another server): hydrate from a snapshot`
        : `the history token of pull cursor ${after} is not this server's: the client followed another history (a server restored from a backup, or another server): hydrate from a snapshot`,
    details,
  };
}

/** 409 `bundle_gap` / `stale_bundle` / `bundle_mismatch`, with the source's last committed id. */
export function sourceBundleRejection(
  decision: Extract<SourceBundleDecision, { lastCommitted: number }>,
  sourceBundleId: number,
): Rejection {
  const { lastCommitted } = decision;
  return {
    kind: 'rejected',
    code: decision.kind,
    message:
      decision.kind === 'bundle_gap'
        ? `sourceBundleId ${sourceBundleId} skips ahead: the last committed one is ${lastCommitted}`
        : decision.kind === 'stale_bundle'
          ? `sourceBundleId ${sourceBundleId} is stale: the last committed one is ${lastCommitted}`
          : `sourceBundleId ${sourceBundleId} was committed with other changes: another install seems to share this sourceId; it must rotate to a new sourceId and push its changes again`,
    details: { lastCommitted },
  };
}

/** 422 `validation_failed` listing every error. */
export function validationRejection(errors: readonly ValidationError[]): Rejection {
  const n = errors.length;
  return {
    kind: 'rejected',
    code: 'validation_failed',
    message: `${n} validation error${n === 1 ? '' : 's'}`,
    details: { errors },
  };
}

/** 403 naming the refused changes (by the caller's own index, table and pk) and nothing else. */
export function forbiddenRejection(changes: readonly ForbiddenChange[]): Rejection {
  const n = changes.length;
  const details: ForbiddenDetails = { changes: [...changes] };
  return {
    kind: 'rejected',
    code: 'forbidden',
    message: `${n} change${n === 1 ? '' : 's'} name${n === 1 ? 's' : ''} a row that is not yours`,
    details,
  };
}

/**
 * 403 naming the changes the server's hooks refused (`validate`, `authorize`), each with the
 * hook's code and message. A `forbidden` answer, so that every client dead-letters exactly those
 * changes and pushes the rest again; the entries' `hookCode` tells them from Ferry's own refusals.
 */
export function hookRefusalRejection(refused: readonly RefusedChange[]): Rejection {
  const n = refused.length;
  const details: ForbiddenDetails = { changes: [...refused] };
  return {
    kind: 'rejected',
    code: 'forbidden',
    message: `${n} change${n === 1 ? ' was' : 's were'} refused by the server's rules: ${refused
      .map((r) => `${r.hookCode}: ${r.message}`)
      .join('; ')}`.slice(0, 2_000),
    details,
  };
}

/** The changes a rejection names as refused by the server's hooks (none for any other). */
export function hookRefusalsOf(rejection: Rejection): readonly RefusedChange[] {
  if (rejection.code !== 'forbidden') return [];
  const changes = (rejection.details as { changes?: unknown } | undefined)?.changes;
  if (!Array.isArray(changes)) return [];
  return (changes as (RefusedChange | { hookCode?: undefined })[]).filter(
    (change): change is RefusedChange => change.hookCode !== undefined,
  );
}

/**
 * 422 `fk_violation` for a bundle whose commit the database refused with a deferred foreign key
 * the pre-checks could not see (a cascade running into a restrict further down).
 */
export function danglingReferenceRejection(changes: readonly Change[]): Rejection {
  const first = changes[0];
  return validationRejectionWithMessage('the bundle would leave a reference dangling', [
    {
      index: 0,
      table: first?.table ?? '',
      pk: first?.pk ?? null,
      code: 'fk_violation',
      message:
        'committing the bundle would leave a row referencing a deleted one (through a restrict reference further down)',
    },
  ]);
}

function validationRejectionWithMessage(
  message: string,
  errors: readonly ValidationError[],
): Rejection {
  return { ...validationRejection(errors), message };
}

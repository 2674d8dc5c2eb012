import type { Change, ForbiddenDetails, ProtocolErrorCode, ValidationError } from '@ferry/protocol';
import type { ForbiddenChange, SourceBundleDecision } from './decide-push.js';

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

/** 410: a pull cursor older than retained history, or newer than anything committed. */
export function cursorRejection(
  code: 'history_pruned' | 'cursor_unknown',
  after: number,
): Rejection {
  return {
    kind: 'rejected',
    code,
    message:
      code === 'history_pruned'
        ? `pull cursor ${after} is older than the retained history: hydrate from a snapshot`
        : `pull cursor ${after} is newer than anything this server has committed: hydrate from a snapshot`,
  };
}

/** 409 `bundle_gap` / `stale_bundle`, with the source's last committed id. */
export function sourceBundleRejection(
  decision: Extract<SourceBundleDecision, { lastCommitted: number }>,
  sourceBundleId: number,
): Rejection {
  return {
    kind: 'rejected',
    code: decision.kind,
    message:
      decision.kind === 'bundle_gap'
        ? `sourceBundleId ${sourceBundleId} skips ahead: the last committed one is ${decision.lastCommitted}`
        : `sourceBundleId ${sourceBundleId} is stale: the last committed one is ${decision.lastCommitted}`,
    details: { lastCommitted: decision.lastCommitted },
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

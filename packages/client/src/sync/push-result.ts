/**
 * The one reading of what the server said about a pushed bundle, whichever endpoint carried it:
 * `POST /v1/push` answers 200 with the committed bundle or 409 with the conflicts, `POST
 * /v1/sync` answers 200 with a push result beside the pulled page. Both become a
 * {@link PushResult} value, settled by the same code; a conflict is never a thrown error.
 *
 * @module
 */
import {
  FerryError,
  PushResponseSchema,
  PushResultSchema,
  SyncResponseSchema,
  committedPushRows,
  type PullResponse,
  type PushResult,
  type RowEffect,
} from '@ferry/protocol';
import { parseAnswer, type BundleAnswer } from './transport.js';

/** A push result with the committed rows in hand, wherever the answer carried them. */
export type PushOutcome =
  | Exclude<PushResult, { status: 'committed' }>
  | {
      readonly status: 'committed';
      readonly sourceBundleId: number;
      readonly bundleSeq: number;
      readonly rows: RowEffect[];
      readonly token?: string | undefined;
    };

/** The push result of a `POST /v1/push` answer. */
export function pushResultOfPush(answer: BundleAnswer): PushOutcome {
  if (answer.kind === 'conflicts') {
    const conflict = parseAnswer(
      PushResultSchema,
      answer.head === undefined
        ? { status: 'conflict', conflicts: answer.conflicts }
        : { status: 'conflict', conflicts: answer.conflicts, head: answer.head },
      'push conflict',
    );
    if (conflict.status === 'conflict') return conflict;
    throw new FerryError('bad_response', 'a 409 conflict that parsed as a commit');
  }
  return { status: 'committed', ...parseAnswer(PushResponseSchema, answer.body, 'push') };
}

/**
 * The push result and the pulled page of a `POST /v1/sync` answer (its 200 body). A committed
 * result's rows come from the page when it says `rowsInPull`.
 */
export function syncAnswerOf(body: unknown): { push: PushOutcome; pull: PullResponse } {
  const { push, pull } = parseAnswer(SyncResponseSchema, body, 'sync');
  if (push === null) {
    throw new FerryError('bad_response', 'the sync answer has no push result for a push');
  }
  if (push.status !== 'committed') return { push, pull };
  const rows = committedPushRows(push, pull);
  if (rows === undefined) {
    throw new FerryError(
      'bad_response',
      `the sync answer's committed push (bundle ${push.bundleSeq}) has no rows, in itself or in the page`,
    );
  }
  return {
    push: {
      status: 'committed',
      sourceBundleId: push.sourceBundleId,
      bundleSeq: push.bundleSeq,
      rows: [...rows],
      ...(push.token === undefined ? {} : { token: push.token }),
    },
    pull,
  };
}

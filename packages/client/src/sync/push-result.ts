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
  type PullResponse,
  type PushResult,
} from '@ferry/protocol';
import { parseAnswer, type BundleAnswer } from './transport.js';

/** The push result of a `POST /v1/push` answer. */
export function pushResultOfPush(answer: BundleAnswer): PushResult {
  if (answer.kind === 'conflicts') {
    return parseAnswer(
      PushResultSchema,
      answer.head === undefined
        ? { status: 'conflict', conflicts: answer.conflicts }
        : { status: 'conflict', conflicts: answer.conflicts, head: answer.head },
      'push conflict',
    );
  }
  return { status: 'committed', ...parseAnswer(PushResponseSchema, answer.body, 'push') };
}

/** The push result and the pulled page of a `POST /v1/sync` answer (its 200 body). */
export function syncAnswerOf(body: unknown): { push: PushResult; pull: PullResponse } {
  const { push, pull } = parseAnswer(SyncResponseSchema, body, 'sync');
  if (push === null) {
    throw new FerryError('bad_response', 'the sync answer has no push result for a push');
  }
  return { push, pull };
}

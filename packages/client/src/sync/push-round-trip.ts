import { PROTOCOL_VERSION } from '@ferry/protocol';
import { applyPull } from './pull-apply.js';
import { readCheckpoint, readCursor, type FrozenBundle } from '../local/metadata.js';
import type { ExchangeParts } from './exchange-parts.js';
import { basesAtMember, readBasesPoint } from '../local/bases-point.js';
import { recordCommitted, settleLateAck } from './push-acknowledgement.js';
import { pushBodyJson } from './push-body.js';
import { settleConflictAnswer } from '../conflicts/settle-conflict-answer.js';
import { pushResultOfPush } from './push-result.js';

/**
 * One round trip of a `push` cycle: `POST /v1/push`. A committed answer is applied at once when
 * its `bundleSeq` is the checkpoint + 1 (it is what a pull would bring), settled when it is at or
 * below the checkpoint; a 409 is settled by the resolvers. Returns true when the bundle was
 * settled and more may follow, false when peers committed in between and the bundle waits for a
 * pull of their bundles.
 */
export async function pushRoundTrip(
  deps: ExchangeParts,
  bundle: FrozenBundle,
  signal: AbortSignal,
): Promise<boolean> {
  const { db, ctx, recorder } = deps;
  const correlationId = `${bundle.sourceId}:${bundle.sourceBundleId}`;
  // The cursor goes along: the answer is taken for the bundle after the checkpoint only when the
  // server checked that the checkpoint is on its history.
  const { after, token } = await readCursor(db);
  const point = await readBasesPoint(db);
  const answer = await deps.transport.postBundle(
    '/v1/push',
    pushBodyJson(bundle, ctx.schema, (changes) => ({
      protocol: PROTOCOL_VERSION,
      sourceId: bundle.sourceId,
      sourceBundleId: bundle.sourceBundleId,
      changes,
      after,
      ...(token === null ? {} : { afterToken: token }),
      ...basesAtMember(point),
    })),
    { signal, correlationId },
  );
  if (answer.kind === 'body') await ctx.hook('after-server-commit-before-response');
  const result = pushResultOfPush(answer);
  if (result.status === 'conflict') {
    recorder.record(...(await settleConflictAnswer(deps, bundle, result.conflicts, result.head)));
    return true;
  }
  await ctx.hook('after-response-before-local-ack');
  recorder.record(...(await recordCommitted(deps, bundle, result)));
  const checkpoint = await readCheckpoint(db);
  const skipPeers = ctx.faults?.checkpointWithoutContiguity === true;
  if (result.bundleSeq === checkpoint + 1 || (skipPeers && result.bundleSeq > checkpoint)) {
    // The next bundle after the checkpoint: its answer is what a pull would bring.
    const pulled = await applyPull(
      deps,
      [
        {
          bundleSeq: result.bundleSeq,
          sourceId: bundle.sourceId,
          sourceBundleId: result.sourceBundleId,
          rows: result.rows,
          ...(result.token === undefined ? {} : { token: result.token }),
        },
      ],
      undefined,
      bundle,
    );
    recorder.record(...pulled);
    return true;
  }
  if (result.bundleSeq <= checkpoint) {
    await settleLateAck(deps);
    return true;
  }
  // Peers committed in between: the checkpoint waits for a pull of the missing bundles.
  return false;
}

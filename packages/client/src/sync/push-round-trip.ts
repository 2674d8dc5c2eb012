import { PROTOCOL_VERSION, PushResponseSchema, isFerryError, type Conflict } from '@ferry/protocol';
import { applyPull } from './pull-apply.js';
import type { ClientCore } from '../client-core.js';
import { readCheckpoint, readCursor, type FrozenBundle } from '../local/metadata.js';
import type { CycleReport } from './cycle-report.js';
import { recordCommitted, settleLateAck } from './push-acknowledgement.js';
import { pushBodyJson } from './push-body.js';
import { settleConflictAnswer } from './settle-conflict-answer.js';
import { parseAnswer } from './transport.js';

/**
 * One round trip of a `push` cycle: `POST /v1/push`. A committed answer is applied at once when
 * its `bundleSeq` is the checkpoint + 1 (it is what a pull would bring), settled when it is at or
 * below the checkpoint; a 409 is settled by the resolvers. Returns true when the bundle was
 * settled and more may follow, false when peers committed in between and the bundle waits for a
 * pull of their bundles.
 */
export async function pushRoundTrip(
  core: ClientCore,
  bundle: FrozenBundle,
  signal: AbortSignal,
  report: CycleReport,
): Promise<boolean> {
  const { ctx } = core;
  const correlationId = `${bundle.sourceId}:${bundle.sourceBundleId}`;
  // The cursor goes along: the answer is taken for the bundle after the checkpoint only when the
  // server checked that the checkpoint is on its history.
  const { after, token } = await readCursor(core.db);
  let raw: unknown;
  try {
    raw = await core.transport.postJsonText(
      '/v1/push',
      pushBodyJson(bundle, (changes) => ({
        protocol: PROTOCOL_VERSION,
        sourceId: bundle.sourceId,
        sourceBundleId: bundle.sourceBundleId,
        changes,
        after,
        ...(token === null ? {} : { afterToken: token }),
      })),
      { signal, correlationId },
    );
  } catch (error) {
    if (isFerryError(error, 'conflict')) {
      const conflicts = (error.details as { conflicts?: Conflict[] } | undefined)?.conflicts;
      if (Array.isArray(conflicts)) {
        await settleConflictAnswer(core, bundle, conflicts, report);
        return true;
      }
    }
    throw error;
  }
  await ctx.hook('after-server-commit-before-response');
  const answer = parseAnswer(PushResponseSchema, raw, 'push');
  await ctx.hook('after-response-before-local-ack');
  await recordCommitted(core, bundle, answer.bundleSeq, answer.rows, report);
  const checkpoint = await readCheckpoint(core.db);
  const skipPeers = ctx.faults?.checkpointWithoutContiguity === true;
  if (answer.bundleSeq === checkpoint + 1 || (skipPeers && answer.bundleSeq > checkpoint)) {
    // The next bundle after the checkpoint: its answer is what a pull would bring.
    await applyPull(
      core,
      [
        {
          bundleSeq: answer.bundleSeq,
          sourceId: bundle.sourceId,
          sourceBundleId: answer.sourceBundleId,
          rows: answer.rows,
          ...(answer.token === undefined ? {} : { token: answer.token }),
        },
      ],
      report,
    );
    return true;
  }
  if (answer.bundleSeq <= checkpoint) {
    await settleLateAck(core);
    return true;
  }
  // Peers committed in between: the checkpoint waits for a pull of the missing bundles.
  return false;
}

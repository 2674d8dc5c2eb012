import { PROTOCOL_VERSION, PullResponseSchema, type PullResponse } from '@ferry/protocol';
import { applyPull } from './pull-apply.js';
import type { ClientCore } from '../client-core.js';
import { readCursor, type FrozenBundle } from '../local/metadata.js';
import { checkServerId } from './server-identity.js';
import type { CycleReport } from './cycle-report.js';
import { basesAtMember, readBasesPoint } from '../local/bases-point.js';
import { recordCommitted, settleLateAck } from './push-acknowledgement.js';
import { pushBodyJson } from './push-body.js';
import { syncAnswerOf } from './push-result.js';
import { settleConflictAnswer } from './settle-conflict-answer.js';
import { parseAnswer } from './transport.js';

/**
 * One round trip of a `full` or `pull` cycle: `POST /v1/sync` with the bundle and the checkpoint
 * (or `GET /v1/pull` when there is nothing to push), then the push result (committed: recorded;
 * 409: settled by the resolvers) and the pulled page applied. `hasMore`: the server has more
 * to pull.
 */
export async function syncRoundTrip(
  core: ClientCore,
  kind: 'full' | 'pull',
  bundle: FrozenBundle | null,
  signal: AbortSignal,
  report: CycleReport,
): Promise<{ hasMore: boolean }> {
  const { ctx } = core;
  const { after, token } = await readCursor(core.db);
  const limit = core.settings.pullLimit;
  let pull: PullResponse;
  let sent: FrozenBundle | undefined;
  if (kind === 'pull' || bundle === null) {
    const query = `after=${after}&limit=${limit}${token === null ? '' : `&token=${encodeURIComponent(token)}`}`;
    const raw = await core.transport.getJson(`/v1/pull?${query}`, { signal });
    pull = parseAnswer(PullResponseSchema, raw, 'pull');
  } else {
    const correlationId = `${bundle.sourceId}:${bundle.sourceBundleId}`;
    const point = await readBasesPoint(core.db);
    const raw = await core.transport.postJsonText(
      '/v1/sync',
      pushBodyJson(bundle, (changes) => ({
        protocol: PROTOCOL_VERSION,
        sourceId: bundle.sourceId,
        push: { sourceBundleId: bundle.sourceBundleId, changes },
        after,
        limit,
        ...(token === null ? {} : { afterToken: token }),
        ...basesAtMember(point),
      })),
      { signal, correlationId },
    );
    await ctx.hook('after-server-commit-before-response');
    const answer = syncAnswerOf(raw);
    await ctx.hook('after-response-before-local-ack');
    pull = answer.pull;
    const push = answer.push;
    if (push.status === 'committed') {
      await recordCommitted(core, bundle, push, report);
      sent = bundle;
      if (push.bundleSeq <= after) await settleLateAck(core);
    } else {
      await settleConflictAnswer(core, bundle, push.conflicts, push.head, report);
    }
  }
  await checkServerId(core, pull.serverId);
  await applyPull(core, pull.bundles, report, pull.stableBundleSeq, sent);
  return { hasMore: pull.hasMore };
}

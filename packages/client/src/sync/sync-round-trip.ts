import { PROTOCOL_VERSION, PullResponseSchema, type PullResponse } from '@ferry/protocol';
import { applyPull } from './pull-apply.js';
import { readCursor, type FrozenBundle } from '../local/metadata.js';
import { checkServerId } from './server-identity.js';
import type { ExchangeParts } from './exchange-parts.js';
import { basesAtMember, readBasesPoint } from '../local/bases-point.js';
import { recordCommitted, settleLateAck } from './push-acknowledgement.js';
import { pushBodyJson } from './push-body.js';
import { syncAnswerOf } from './push-result.js';
import { settleConflictAnswer } from '../conflicts/settle-conflict-answer.js';
import { parseAnswer } from './transport.js';

/**
 * One round trip of a `full` or `pull` cycle: `POST /v1/sync` with the bundle and the checkpoint
 * (or `GET /v1/pull` when there is nothing to push), then the push result (committed: recorded;
 * 409: settled by the resolvers) and the pulled page applied. `hasMore`: the server has more
 * to pull.
 */
export async function syncRoundTrip(
  deps: ExchangeParts,
  kind: 'full' | 'pull',
  bundle: FrozenBundle | null,
  signal: AbortSignal,
): Promise<{ hasMore: boolean }> {
  const { db, ctx, recorder } = deps;
  const { after, token } = await readCursor(db);
  const limit = deps.settings.pullLimit;
  let pull: PullResponse;
  let sent: FrozenBundle | undefined;
  if (kind === 'pull' || bundle === null) {
    const query = `after=${after}&limit=${limit}${token === null ? '' : `&token=${encodeURIComponent(token)}`}`;
    const raw = await deps.transport.getJson(`/v1/pull?${query}`, { signal });
    pull = parseAnswer(PullResponseSchema, raw, 'pull');
  } else {
    const correlationId = `${bundle.sourceId}:${bundle.sourceBundleId}`;
    const point = await readBasesPoint(db);
    const raw = await deps.transport.postJsonText(
      '/v1/sync',
      pushBodyJson(bundle, ctx.schema, (changes) => ({
        protocol: PROTOCOL_VERSION,
        sourceId: bundle.sourceId,
        push: { sourceBundleId: bundle.sourceBundleId, changes },
        after,
        limit,
        ...(token === null ? {} : { afterToken: token }),
        ...basesAtMember(point),
        // The pushed bundle's rows once: in the pull page when it reaches the bundle.
        pushRows: 'unless-pulled',
      })),
      { signal, correlationId },
    );
    await ctx.hook('after-server-commit-before-response');
    const answer = syncAnswerOf(raw);
    await ctx.hook('after-response-before-local-ack');
    pull = answer.pull;
    const push = answer.push;
    if (push.status === 'committed') {
      recorder.record(...(await recordCommitted(deps, bundle, push)));
      sent = bundle;
      if (push.bundleSeq <= after) await settleLateAck(deps);
    } else {
      recorder.record(...(await settleConflictAnswer(deps, bundle, push.conflicts, push.head)));
    }
  }
  await checkServerId(db, pull.serverId);
  recorder.record(...(await applyPull(deps, pull.bundles, pull, sent)));
  return { hasMore: pull.hasMore };
}

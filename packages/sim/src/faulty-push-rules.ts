import { defaultPushRules, type PushRules } from '@ferry/server';

/** Deliberate protocol violations of the server's push, for the negative controls. */
export interface UnsafeServerFaults {
  /** Commit a resend of the last committed bundle again instead of answering it as a replay. */
  readonly skipIdempotencyCheck?: boolean;
  /** Ignore `baseVersion`: apply every change as if it were made on the current version. */
  readonly skipConflictCheck?: boolean;
  /** Answer any resend of the last committed bundle id as a replay, whatever its changes. */
  readonly skipDigestCheck?: boolean;
  /** Write a counter's pushed value instead of adding its delta (increments of others lost). */
  readonly dropCounterDeltas?: boolean;
}

/**
 * The protocol's push rules with the faults wrapped around them: what the store's
 * `__pushRules` gets in a negative control (a simulator that cannot catch these proves nothing).
 */
export function faultyPushRules(
  faults: UnsafeServerFaults,
  rules: PushRules = defaultPushRules,
): PushRules {
  return {
    decideSourceBundle: (source, push) => {
      const digest = faults.skipDigestCheck === true ? (source.digest ?? push.digest) : push.digest;
      const decision = rules.decideSourceBundle(source, { ...push, digest });
      return decision.kind === 'replay' && faults.skipIdempotencyCheck === true
        ? { kind: 'commit' }
        : decision;
    },
    decidePush: (input) => {
      const decision = rules.decidePush(
        faults.skipConflictCheck === true
          ? {
              ...input,
              changes: input.changes.map((change) => ({
                ...change,
                baseVersion: input.rowStates.get(change.key)?.rowVersion ?? null,
              })),
            }
          : input,
      );
      return decision.kind === 'apply' && faults.dropCounterDeltas === true
        ? { ...decision, changes: decision.changes.map((c) => ({ ...c, deltas: undefined })) }
        : decision;
    },
  };
}

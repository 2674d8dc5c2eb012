/**
 * The conflict decision: what one conflicting change of a refused push does to the frozen
 * bundle, the local row, the pending entry stacked on the change (its pin) and the app's records
 * (a manual conflict, the journal of settled conflicts). A pure function of the change, the
 * server's answer for it, what the file holds of the row and the table's resolver;
 * `settleConflicts` reads the inputs and writes the decision.
 *
 * The pending entry's pin keeps the invariants listed beside its type (`local/pending-pin.ts`):
 * an edit stacked on the change in flight was made on the change's result and is unpinned
 * (pin invariant 3); this decision pins it only where the change leaves the bundle unpushed
 * (`adopt-server`, invariant 4); a rebased change stays in flight under it, and a manual one
 * keeps the local row as the app wrote it, so both leave the entry as it is.
 *
 * @module
 */
import {
  decideConflictOutcome,
  lostValuesOf,
  settledRowOf,
  type Conflict,
  type Row,
} from '@ferry/protocol';
import { completedRow, normalizeRow } from '../apply/normalize-row.js';
import { rebaseRow } from '../apply/rebase-row.js';
import {
  decideSettledRow,
  type LocalRowEffect,
  type SettledRowFacts,
} from '../apply/settled-row.js';
import type { ManualConflictCause } from '../local/conflict-store.js';
import type { FrozenChange, PendingEntry } from '../local/metadata.js';
import type { SettledConflictDraft } from '../local/settled-journal.js';
import type { TableCodec } from '../local/table-codec.js';
import type { ConflictReport } from '../types.js';
import type { TableResolver } from './resolver-lookup.js';

/** One conflict to decide. */
export interface ConflictCase {
  readonly codec: Pick<TableCodec, 'table' | 'pushRow'>;
  /** The frozen change the server refused. */
  readonly change: FrozenChange;
  /** The server's answer for it (its `pk` and `table` name the change's row). */
  readonly conflict: Conflict;
  /** What the file holds of the row. */
  readonly facts: SettledRowFacts;
  readonly resolver: TableResolver;
  /** Rebases allowed per row before its conflict becomes manual. */
  readonly maxAttempts: number;
  /** The bundle's id, for the journal. */
  readonly sourceBundleId: number;
  /** When (ms). */
  readonly at: number;
}

/** What happens to the frozen change: it leaves the bundle, or is replaced by its rebase. */
export type FrozenChangeEffect =
  { readonly kind: 'drop' } | { readonly kind: 'replace'; readonly change: FrozenChange };

/** The decision for one conflicting change. */
export interface ConflictDecision {
  /** For the cycle's report. */
  readonly report: ConflictReport;
  readonly frozen: FrozenChangeEffect;
  readonly localRow: LocalRowEffect;
  /** The pending entry as it must be written; null: none, or untouched. */
  readonly pending: PendingEntry | null;
  /** The manual conflict to record (in place of any earlier one of the row), if any. */
  readonly manual: ManualConflictCause | null;
  /** Every value the settlement dropped, of either side, for the journal. */
  readonly lost: readonly SettledConflictDraft[];
}

/**
 * Decides one conflict through the table's resolver (`decideConflictOutcome`, which bounds the
 * retries and turns a failing resolver into a manual conflict):
 * - `adopt-server`: the change leaves the bundle; the local row returns to its server state with
 *   any stacked edit rebased on it, and that edit is pinned to the base the change was made on
 *   (`decideSettledRow`). Later pulls bring the server's newer row.
 * - `rebase`: the change is rewritten against the server's version (its next attempt) and stays
 *   in the bundle; the local row becomes the merged row, or, under a stacked edit, keeps the
 *   columns that edit changed (`rebaseRow`); a stacked delete is left as it is.
 * - `manual`: the change leaves the bundle and becomes a manual conflict; the local row keeps its
 *   value and waits for `resolveConflict`.
 */
export function decideConflict(input: ConflictCase): ConflictDecision {
  const { change, conflict, facts, codec } = input;
  const table = codec.table;
  const local = change.op === 'delete' ? null : { ...(change.base ?? {}), ...change.row };
  const server = conflict.serverRow === null ? null : normalizeRow(codec, conflict.serverRow);
  const outcome = decideConflictOutcome({
    resolver: input.resolver.resolver,
    local,
    base: change.base,
    server,
    context: {
      table,
      pk: change.pk,
      serverVersion: conflict.serverVersion,
      serverDeleted: conflict.serverDeleted,
      attempts: change.conflicts,
    },
    maxAttempts: input.maxAttempts,
  });
  const lost = lostValuesOf({
    table,
    local,
    base: change.base,
    server,
    serverDeleted: conflict.serverDeleted,
    outcome,
  }).map((loss): SettledConflictDraft => ({
    table: change.tbl,
    pk: change.pk,
    rule: input.resolver.rule,
    ...loss,
    serverVersion: conflict.serverVersion,
    sourceBundleId: input.sourceBundleId,
    at: input.at,
  }));
  const report = { table: change.tbl, pk: change.pk };
  switch (outcome.kind) {
    case 'adopt-server':
      return {
        report: { ...report, outcome: 'adopt-server' },
        frozen: { kind: 'drop' },
        ...decideSettledRow(table, change, facts, {
          kind: 'adopted',
          changeBaseVersion: change.baseVersion,
          changeBase: change.base,
        }),
        manual: null,
        lost,
      };
    case 'rebase': {
      const merged = settledRowOf(outcome, server) ?? null;
      const next: FrozenChange = {
        ...change,
        letter: merged === null ? 'D' : conflict.serverVersion === null ? 'I' : 'U',
        op: merged === null ? 'delete' : 'upsert',
        baseVersion: conflict.serverVersion,
        base: server,
        row: merged === null ? null : codec.pushRow(merged),
        conflicts: change.conflicts + 1,
      };
      return {
        report: { ...report, outcome: 'rebase' },
        frozen: { kind: 'replace', change: next },
        localRow: rebasedLocalRow(codec, change, facts, merged),
        pending: null,
        manual: null,
        lost,
      };
    }
    case 'manual':
      return {
        report: { ...report, outcome: 'manual', reason: outcome.reason },
        frozen: { kind: 'drop' },
        localRow: { kind: 'keep' },
        pending: null,
        manual: {
          local,
          server,
          serverVersion: conflict.serverVersion,
          serverDeleted: conflict.serverDeleted,
          reason: outcome.reason,
          at: input.at,
        },
        lost,
      };
  }
}

/** The local row under a rebased change whose merged row is `merged` (null: a delete). */
function rebasedLocalRow(
  codec: Pick<TableCodec, 'table'>,
  change: FrozenChange,
  facts: SettledRowFacts,
  merged: Row | null,
): LocalRowEffect {
  const { pending, current } = facts;
  if (merged === null) return pending ? { kind: 'keep' } : { kind: 'delete' };
  // A merged row need not carry every column (a local row kept from before the app's update
  // lacks the columns it added, a custom resolver may return a part): those keep their values.
  const row = completedRow(codec, current, merged);
  if (!pending) return { kind: 'write', row };
  if (pending.op === 'D' || current === null) return { kind: 'keep' };
  return { kind: 'write', row: rebaseRow(codec.table, current, change.row, row) };
}

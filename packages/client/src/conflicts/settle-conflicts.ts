import { FerryError, type Conflict } from '@ferry/protocol';
import type { SettledRowFacts } from '../apply/settled-row.js';
import { ServerRowWrites } from '../apply/server-row-writes.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import { readInflightRowStates } from '../local/apply-store.js';
import { readLocalRows } from '../local/local-rows.js';
import type { TableCodec } from '../local/table-codec.js';
import type { EngineContext } from '../engine-context.js';
import { putManualConflict } from '../local/conflict-store.js';
import {
  clearFrozenBundle,
  countFrozenBundleAttempt,
  deleteFrozenChanges,
  insertFrozenChanges,
  setApplying,
  writePending,
  type Executor,
  type FrozenBundle,
  type FrozenChange,
} from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { journalSettledConflicts } from '../local/settled-journal.js';
import type { ConflictReport, SettledConflict } from '../types.js';
import { decideConflict } from './decide-conflict.js';
import type { ResolverLookup } from './resolver-lookup.js';

/** How {@link settleConflicts} settles: the resolvers and the bounds. */
export interface SettleSettings {
  readonly resolverOf: ResolverLookup;
  /** Rebases allowed per row before its conflict becomes manual. */
  readonly maxAttempts: number;
  /** Entries the journal of settled conflicts keeps. */
  readonly journalLimit: number;
}

/** What {@link settleConflicts} did. */
export interface SettledConflicts {
  /** One per conflicting row. */
  readonly reports: ConflictReport[];
  /** The values the settlement dropped, as journaled (see `lostValuesOf`). */
  readonly journaled: SettledConflict[];
}

/**
 * Settles a 409 `conflict` inside the caller's transaction: each conflicting change of the
 * frozen bundle is decided by {@link decideConflict} (adopt the server's row, rebase, or leave it
 * to the app) on what the file holds of its row, and the decisions are written. Set-based: the
 * reads and the writes do not grow in statements with the number of conflicts (except the rare
 * stacked edit re-pinned or manual conflict recorded, one statement each). Non-conflicting
 * changes stay as they are; the bundle keeps its `sourceBundleId` and is cleared when no change
 * is left in it.
 *
 * Every value an `adopt-server` or `rebase` drops, of either side, goes into the journal of
 * settled conflicts in this same transaction, which also prunes it to `journalLimit` entries: a
 * settlement and its journal entries commit together or not at all.
 */
export async function settleConflicts(
  tx: Executor,
  ctx: EngineContext,
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
  settings: SettleSettings,
): Promise<SettledConflicts> {
  // Writes made while the bundle was in flight may still be in the capture log: fold them
  // first, or a settled row would overwrite them as if there were no pending edit.
  await foldCaptureLog(tx, ctx.now());
  await setApplying(tx, true);
  const at = ctx.now();
  const cases = conflictCases(ctx, bundle, conflicts);
  // What the file holds of the rows, read set-based: row states and pending entries in one
  // query, the local rows under stacked edits in one query per table.
  const states = await readInflightRowStates(
    tx,
    cases.map(({ change }) => change.ord),
  );
  const local = await readLocalRows(
    tx,
    ctx.codecs,
    cases.flatMap(({ change, pk }) => {
      const pending = states.get(change.ord)?.pending;
      return pending && pending.op !== 'D' ? [{ tbl: change.tbl, pk }] : [];
    }),
  );
  const decisions = cases.map(({ codec, change, conflict, pk }) => {
    const state = states.get(change.ord);
    const row = state?.pending ? local.get(change.tbl)?.get(pk) : undefined;
    const facts: SettledRowFacts = {
      serverState: state?.serverState,
      pending: state?.pending,
      current: row ? codec.decode(row) : null,
    };
    return decideConflict({
      codec,
      change,
      conflict,
      facts,
      resolver: settings.resolverOf(change.tbl),
      maxAttempts: settings.maxAttempts,
      sourceBundleId: bundle.sourceBundleId,
      at,
    });
  });
  // The decisions, written with multi-row statements where they are many.
  await deleteFrozenChanges(
    tx,
    cases.map(({ change }) => change.ord),
  );
  const replaced = decisions.flatMap((d) => (d.frozen.kind === 'replace' ? [d.frozen.change] : []));
  await insertFrozenChanges(tx, replaced);
  const rows = new ServerRowWrites();
  for (const [i, decision] of decisions.entries()) {
    const { codec, change, pk } = cases[i]!;
    const effect = decision.localRow;
    if (effect.kind !== 'keep') rows.set(codec, pk, effect.kind === 'write' ? effect.row : null);
    if (decision.pending) await writePending(tx, decision.pending);
    if (decision.manual) await putManualConflict(tx, change, decision.manual);
  }
  await rows.flush(tx);
  if (bundle.changes.length - cases.length + replaced.length === 0) await clearFrozenBundle(tx);
  else await countFrozenBundleAttempt(tx);
  await setApplying(tx, false);
  const journaled = await journalSettledConflicts(
    tx,
    decisions.flatMap((d) => d.lost),
    settings.journalLimit,
  );
  return { reports: decisions.map((d) => d.report), journaled };
}

/** A conflict with the frozen change it names and the change's codec and encoded key. */
interface ConflictCaseOf {
  readonly conflict: Conflict;
  readonly change: FrozenChange;
  readonly codec: TableCodec;
  readonly pk: SqlValue;
}

/**
 * Pairs each conflict with the change of the bundle it names; an answer naming no change of the
 * bundle, another row, or one change twice is a `bad_response`.
 */
function conflictCases(
  ctx: EngineContext,
  bundle: FrozenBundle,
  conflicts: readonly Conflict[],
): ConflictCaseOf[] {
  const named = new Set<number>();
  return conflicts.map((conflict) => {
    const change = bundle.changes[conflict.index];
    const codec = change && ctx.codecs.get(change.tbl);
    if (
      !change ||
      !codec ||
      named.has(conflict.index) ||
      change.tbl !== conflict.table ||
      String(change.pk) !== String(conflict.pk)
    ) {
      throw new FerryError(
        'bad_response',
        `conflict ${conflict.index} (${conflict.table} ${String(conflict.pk)}) does not name a change of the bundle once`,
      );
    }
    named.add(conflict.index);
    return { conflict, change, codec, pk: codec.encodePk(change.pk) };
  });
}

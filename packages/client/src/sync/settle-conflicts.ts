import {
  BUILTIN_RESOLVERS,
  FerryError,
  decideConflictOutcome,
  lostValuesOf,
  settledRowOf,
  type Conflict,
  type ConflictResolver,
  type Row,
} from '@ferry/protocol';
import { rebaseRow } from '../apply/rebase-row.js';
import { settleFrozenChange } from '../apply/apply-bundles.js';
import type { EngineContext } from '../engine-context.js';
import { putManualConflict } from '../local/conflict-store.js';
import {
  clearFrozenBundle,
  countFrozenBundleAttempt,
  deleteFrozenChange,
  insertFrozenChange,
  readPending,
  setApplying,
  type Executor,
  type FrozenBundle,
  type FrozenChange,
} from '../local/metadata.js';
import { foldCaptureLog } from '../outbox/fold-capture-log.js';
import { journalSettledConflicts, type SettledConflictDraft } from '../local/settled-journal.js';
import type { ConflictReport, SettledConflict } from '../types.js';

/** A table's resolver, with the name of its rule for the journal of settled conflicts. */
export interface TableResolver {
  readonly resolver: ConflictResolver;
  /** The policy's name (built in or custom); `custom` for a function given by table name. */
  readonly rule: string;
}

/** Resolvers by table name. */
export type ResolverLookup = (table: string) => TableResolver;

/** The rule name of a function given directly as `resolvers[table]`. */
export const CUSTOM_RULE = 'custom';

const DEFAULT_RESOLVER: TableResolver = {
  resolver: BUILTIN_RESOLVERS['field-merge'],
  rule: 'field-merge',
};

/** Builds the resolver lookup from the schema's policies and the client's `resolvers` option. */
export function createResolverLookup(
  ctx: Pick<EngineContext, 'schema'>,
  resolvers: Readonly<Record<string, string | ConflictResolver>> = {},
): ResolverLookup {
  const byTable = new Map<string, TableResolver>();
  const resolve = (setting: string | ConflictResolver, what: string): TableResolver => {
    if (typeof setting === 'function') return { resolver: setting, rule: CUSTOM_RULE };
    if (Object.hasOwn(BUILTIN_RESOLVERS, setting)) {
      return {
        resolver: BUILTIN_RESOLVERS[setting as keyof typeof BUILTIN_RESOLVERS],
        rule: setting,
      };
    }
    const custom = resolvers[setting];
    if (typeof custom === 'function') return { resolver: custom, rule: setting };
    throw new FerryError(
      'invalid_argument',
      `${what} uses conflict policy "${setting}", which is neither built in nor a function in options.resolvers`,
    );
  };
  for (const table of ctx.schema.tables) {
    const setting = resolvers[table.name] ?? table.conflictPolicy;
    byTable.set(table.name, resolve(setting, `table ${table.name}`));
  }
  return (table) => byTable.get(table) ?? DEFAULT_RESOLVER;
}

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
 * Settles a 409 `conflict` inside the caller's transaction. Each conflicting change of the
 * frozen bundle goes to its table's resolver (through `decideConflictOutcome`):
 * - `adopt-server`: the change leaves the bundle and the local row returns to its server state
 *   (pending edits made since stay on top); later pulls bring the server's newer row;
 * - `rebase`: the change is rewritten against the server's version and stays in the bundle;
 * - `manual`: the change leaves the bundle and is recorded in `ferry_conflicts`; the local row
 *   keeps its value and the row waits for `resolveConflict`.
 * Non-conflicting changes stay as they are; the bundle keeps its `sourceBundleId`.
 *
 * Every value an `adopt-server` or `rebase` drops, of either side (`lostValuesOf`), goes into
 * the journal of settled conflicts in this same transaction, which also prunes it to
 * `journalLimit` entries: a settlement and its journal entries commit together or not at all.
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
  const reports: ConflictReport[] = [];
  const lost: SettledConflictDraft[] = [];
  const at = ctx.now();
  let remaining = bundle.changes.length;
  for (const conflict of conflicts) {
    const change = bundle.changes[conflict.index];
    if (!change || change.tbl !== conflict.table || String(change.pk) !== String(conflict.pk)) {
      throw new FerryError(
        'bad_response',
        `conflict ${conflict.index} (${conflict.table} ${String(conflict.pk)}) does not name a change of the bundle`,
      );
    }
    const codec = ctx.codecs.get(change.tbl)!;
    const table = codec.table;
    const local = change.op === 'delete' ? null : { ...(change.base ?? {}), ...change.row };
    const server = conflict.serverRow === null ? null : fullRow(table.columns, conflict.serverRow);
    const { resolver, rule } = settings.resolverOf(change.tbl);
    const outcome = decideConflictOutcome({
      resolver,
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
      maxAttempts: settings.maxAttempts,
    });
    for (const loss of lostValuesOf({
      table,
      local,
      base: change.base,
      server,
      serverDeleted: conflict.serverDeleted,
      outcome,
    })) {
      lost.push({
        table: change.tbl,
        pk: change.pk,
        rule,
        ...loss,
        serverVersion: conflict.serverVersion,
        sourceBundleId: bundle.sourceBundleId,
        at,
      });
    }
    switch (outcome.kind) {
      case 'adopt-server':
        await deleteFrozenChange(tx, change.ord);
        await settleFrozenChange(tx, ctx, change, 'adopted');
        remaining--;
        reports.push({ table: change.tbl, pk: change.pk, outcome: 'adopt-server' });
        break;
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
        await deleteFrozenChange(tx, change.ord);
        await insertFrozenChange(tx, next);
        const pk = codec.encodePk(change.pk);
        const pending = await readPending(tx, change.tbl, pk);
        if (merged === null) {
          if (!pending) await tx.run(codec.deleteSql, [pk]);
        } else if (!pending) {
          await tx.run(codec.upsertSql, codec.encode(fullRow(table.columns, merged)));
        } else if (pending.op !== 'D') {
          const current = await tx.all(codec.selectSql, [pk]);
          if (current[0]) {
            const rebased = rebaseRow(
              table,
              codec.decode(current[0]),
              change.row,
              fullRow(table.columns, merged),
            );
            await tx.run(codec.upsertSql, codec.encode(rebased));
          }
        }
        reports.push({ table: change.tbl, pk: change.pk, outcome: 'rebase' });
        break;
      }
      case 'manual':
        await deleteFrozenChange(tx, change.ord);
        await putManualConflict(tx, change, {
          local,
          server,
          serverVersion: conflict.serverVersion,
          serverDeleted: conflict.serverDeleted,
          reason: outcome.reason,
          at,
        });
        remaining--;
        reports.push({
          table: change.tbl,
          pk: change.pk,
          outcome: 'manual',
          reason: outcome.reason,
        });
        break;
    }
  }
  if (remaining === 0) await clearFrozenBundle(tx);
  else await countFrozenBundleAttempt(tx);
  await setApplying(tx, false);
  const journaled = await journalSettledConflicts(tx, lost, settings.journalLimit);
  return { reports, journaled };
}

function fullRow(columns: readonly { name: string }[], row: Row): Row {
  const out: Row = {};
  for (const column of columns) {
    const value = row[column.name];
    out[column.name] = value === undefined ? null : value;
  }
  return out;
}

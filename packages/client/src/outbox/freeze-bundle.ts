import { orderByRelations, type PrimaryKey } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import {
  deleteFrozenChange,
  deletePending,
  insertFrozenChange,
  readPending,
  readPendingInOrder,
  readRowState,
  wireChangeOf,
  writePending,
  type Executor,
  type FrozenBundle,
  type FrozenChange,
  type PendingEntry,
} from '../local/metadata.js';
import { quoteIdent, quoteLiteral } from '../local/local-schema-sql.js';
import { coalesce, rowKeyOf } from './coalesce.js';
import { chooseBundleCut, type BundleLimits } from './plan-bundle.js';

/** Outcome of {@link freezeNextBundle}. */
export interface FreezeResult {
  readonly bundle: FrozenBundle | null;
  /** A write larger than the limits had to be split across bundles. */
  readonly splitsWrite: boolean;
}

/**
 * Freezes the next bundle inside the caller's transaction: takes pending entries in write order
 * (skipping rows that wait on a dead letter or a manual conflict, and their dependents), up to
 * the limits and never splitting a `client.write`, builds each change from the current local row
 * and its base, orders them parents first for upserts and children first for deletes, and stores
 * the bundle with `sourceBundleId` before anything is sent. Entries that turn out to have nothing
 * to push are dropped. Returns a null bundle when nothing is pushable.
 */
export async function freezeNextBundle(
  tx: Executor,
  ctx: EngineContext,
  limits: BundleLimits,
  sourceBundleId: number,
): Promise<FreezeResult> {
  const blocked = await blockedRows(tx, ctx);
  const loadLimit = limits.maxChanges + 1 + blocked.size;
  const entries = await readPendingInOrder(tx, loadLimit);
  if (entries.length === 0) return { bundle: null, splitsWrite: false };
  let restMin: number | null = null;
  if (entries.length >= loadLimit) {
    const rows = await tx.all<{ m: number | null }>(
      'SELECT min(first_group) AS m FROM ferry_outbox WHERE last_group >= ?',
      [entries[entries.length - 1]!.lastGroup],
    );
    restMin = rows[0]?.m ?? null;
  }
  const drafts: (FrozenChange & { bytes: number })[] = [];
  let bytes = 0;
  for (const entry of entries) {
    if (blocked.has(rowKeyOf(entry.tbl, entry.pk))) continue;
    if (drafts.length >= limits.maxChanges || bytes > limits.maxBytes) {
      restMin = Math.min(restMin ?? Infinity, entry.firstGroup);
      continue;
    }
    const draft = await buildChange(tx, ctx, entry, drafts.length);
    if (draft === null) {
      await deletePending(tx, entry.tbl, entry.pk as SqlValue);
      continue;
    }
    drafts.push(draft);
    bytes += draft.bytes;
  }
  const cut = chooseBundleCut(drafts, restMin, limits);
  if (cut.take === 0) return { bundle: null, splitsWrite: false };
  const chosen = orderByRelations(
    ctx.schema.graph,
    drafts.slice(0, cut.take).map((d) => ({ ...d, table: d.tbl })),
  );
  const frozenAt = ctx.now();
  await tx.run(
    'INSERT INTO ferry_bundle (id, source_bundle_id, frozen_at, attempts, committed_seq) VALUES (1, ?, ?, 0, NULL)',
    [sourceBundleId, frozenAt],
  );
  const changes: FrozenChange[] = [];
  for (let i = 0; i < chosen.length; i++) {
    const { bytes: _bytes, table: _table, ...draft } = chosen[i]!;
    const change: FrozenChange = { ...draft, ord: i };
    await insertFrozenChange(tx, change);
    await deletePending(tx, change.tbl, change.pk);
    changes.push(change);
  }
  return {
    bundle: { sourceBundleId, frozenAt, attempts: 0, committedSeq: null, changes },
    splitsWrite: cut.splitsWrite,
  };
}

/**
 * Builds the change of a pending entry from the local row as it is now and the base it was
 * made on (its pin, else the row's server state). Null when there is nothing to push: a delete
 * of a row the server does not have alive.
 */
async function buildChange(
  tx: Executor,
  ctx: EngineContext,
  entry: PendingEntry,
  ord: number,
): Promise<(FrozenChange & { bytes: number }) | null> {
  const codec = ctx.codecs.get(entry.tbl);
  if (!codec) return null;
  const pk = codec.encodePk(entry.pk);
  const layer0 = await readRowState(tx, entry.tbl, pk);
  const baseVersion = entry.pinned ? entry.pinVersion : (layer0?.version ?? null);
  const base = entry.pinned ? entry.pinBase : (layer0?.base ?? null);
  const current = await tx.all(codec.selectSql, [pk]);
  const common = {
    ord,
    tbl: entry.tbl,
    pk: pk as PrimaryKey,
    letter: entry.op,
    baseVersion,
    base,
    firstGroup: entry.firstGroup,
    lastGroup: entry.lastGroup,
    firstAt: entry.firstAt,
    conflicts: 0,
  };
  let change: FrozenChange;
  if (current[0]) {
    change = { ...common, op: 'upsert', row: codec.pushRow(codec.decode(current[0])) };
  } else {
    const serverHasIt = base !== null || (layer0 !== undefined && !layer0.deleted);
    if (!serverHasIt) return null;
    change = { ...common, op: 'delete', row: null };
  }
  return { ...change, bytes: utf8Length(JSON.stringify(wireChangeOf(change))) + 1 };
}

/**
 * Rows that must not be pushed now: dead-lettered rows and rows in a manual conflict, and,
 * transitively, pending upserts that reference one of them (they would fail against the server).
 */
export async function blockedRows(tx: Executor, ctx: EngineContext): Promise<Set<string>> {
  const parked = await tx.all<{ tbl: string; pk: SqlValue }>(
    'SELECT tbl, pk FROM ferry_dead_letters UNION SELECT tbl, pk FROM ferry_conflicts',
  );
  const blocked = new Set(parked.map((r) => rowKeyOf(r.tbl, r.pk)));
  if (blocked.size === 0) return blocked;
  const blockedTables = new Set(parked.map((r) => r.tbl));
  let grew = true;
  while (grew) {
    grew = false;
    for (const table of ctx.schema.tables) {
      for (const reference of table.references) {
        if (!blockedTables.has(reference.parentTable)) continue;
        const rows = await tx.all<{ pk: SqlValue; ref: SqlValue }>(
          `SELECT o.pk AS pk, c.${quoteIdent(reference.column)} AS ref FROM ferry_outbox o ` +
            `JOIN ${quoteIdent(table.name)} c ON c.${quoteIdent(table.primaryKey)} = o.pk ` +
            `WHERE o.tbl = ${quoteLiteral(table.name)} AND o.op != 'D' AND c.${quoteIdent(reference.column)} IS NOT NULL`,
        );
        for (const row of rows) {
          const key = rowKeyOf(table.name, row.pk);
          if (!blocked.has(key) && blocked.has(rowKeyOf(reference.parentTable, row.ref))) {
            blocked.add(key);
            blockedTables.add(table.name);
            grew = true;
          }
        }
      }
    }
  }
  return blocked;
}

/**
 * Puts a frozen change that was never committed back into the pending outbox (for a retry
 * later): coalesced with edits made since, and pinned to the base it was made on.
 */
export async function unfreezeChange(tx: Executor, change: FrozenChange): Promise<void> {
  await requeueChange(tx, change);
  await deleteFrozenChange(tx, change.ord);
}

/** What {@link requeueChange} needs of a change that was set aside. */
export interface RequeuedChange {
  readonly tbl: string;
  readonly pk: PrimaryKey;
  readonly letter: PendingEntry['op'];
  readonly baseVersion: number | null;
  readonly base: PendingEntry['pinBase'];
  readonly firstGroup: number;
  readonly lastGroup: number;
  readonly firstAt: number;
}

/** Merges a set-aside change into the pending outbox, pinned to its own base. */
export async function requeueChange(tx: Executor, change: RequeuedChange): Promise<void> {
  const pending = await readPending(tx, change.tbl, change.pk);
  const op = pending ? coalesce(change.letter, pending.op) : change.letter;
  if (op === null) {
    await deletePending(tx, change.tbl, change.pk);
    return;
  }
  await writePending(tx, {
    tbl: change.tbl,
    pk: change.pk,
    op,
    firstGroup: Math.min(change.firstGroup, pending?.firstGroup ?? Infinity),
    lastGroup: Math.max(change.lastGroup, pending?.lastGroup ?? -Infinity),
    firstAt: Math.min(change.firstAt, pending?.firstAt ?? Infinity),
    pinned: true,
    pinVersion: change.baseVersion,
    pinBase: change.base,
  });
}

/** Byte length of a string in UTF-8, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}

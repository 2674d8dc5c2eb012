import { changedColumns, orderByRelations, type PrimaryKey, type Row } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import {
  baseClaimOf,
  wireDeltasOf,
  deleteFrozenChange,
  deletePending,
  readPending,
  writePending,
  type Executor,
  type FrozenBundle,
  type FrozenChange,
  type PendingEntry,
} from '../local/metadata.js';
import { utf8Length } from '../counting-fetch.js';
import { readLocalRows, type LocalRows } from '../local/local-rows.js';
import {
  firstGroupPendingFrom,
  readFreezeCandidates,
  readParkedRows,
  readPendingReferences,
  storeFrozenBundle,
  type FreezeCandidate,
} from '../local/freeze-store.js';
import { pinnedTo } from '../local/pending-pin.js';
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
 *
 * Set-based: the entries come with their row state a page of {@link BUILD_CHUNK} at a time, the
 * local rows in one query per table and page, and the bundle is stored with multi-row
 * statements, so the statements do not grow with the size of the bundle.
 */
export async function freezeNextBundle(
  tx: Executor,
  ctx: EngineContext,
  limits: BundleLimits,
  sourceBundleId: number,
): Promise<FreezeResult> {
  const blocked = await blockedRows(tx, ctx);
  const loadLimit = limits.maxChanges + 1 + blocked.size;
  let restMin: number | null = null;
  const drafts: Draft[] = [];
  const nothingToPush: FreezeCandidate[] = [];
  let bytes = 0;
  let full = false;
  let loaded = 0;
  let last: FreezeCandidate | undefined;
  // The entries come a page at a time: a whole bundle's worth in one result held the event
  // loop (and memory) for the time of building them all at once.
  while (loaded < loadLimit) {
    const page = await readFreezeCandidates(tx, Math.min(BUILD_CHUNK, loadLimit - loaded), last);
    if (page.length === 0) break;
    loaded += page.length;
    last = page[page.length - 1];
    const chunk = blocked.size > 0 ? page.filter((e) => !blocked.has(rowKeyOf(e.tbl, e.pk))) : page;
    if (!full) {
      const current = await readLocalRows(
        tx,
        ctx.codecs,
        chunk.flatMap((entry) => {
          const codec = ctx.codecs.get(entry.tbl);
          return codec ? [{ tbl: entry.tbl, pk: codec.encodePk(entry.pk) }] : [];
        }),
      );
      for (const entry of chunk) {
        if (full || drafts.length >= limits.maxChanges || bytes > limits.maxBytes) {
          full = true;
          restMin = Math.min(restMin ?? Infinity, entry.firstGroup);
          continue;
        }
        const draft = draftOf(ctx, entry, current);
        if (draft === null) {
          nothingToPush.push(entry);
          continue;
        }
        drafts.push(draft);
        bytes += draft.bytes;
      }
    } else {
      for (const entry of chunk) restMin = Math.min(restMin ?? Infinity, entry.firstGroup);
    }
    if (page.length < BUILD_CHUNK) break;
  }
  if (loaded === 0) return { bundle: null, splitsWrite: false };
  if (loaded >= loadLimit) {
    const rest = await firstGroupPendingFrom(tx, last!.lastGroup);
    if (rest !== null) restMin = Math.min(restMin ?? Infinity, rest);
  }
  for (const entry of nothingToPush) await deletePending(tx, entry.tbl, entry.pk as SqlValue);
  const cut = chooseBundleCut(drafts, restMin, limits);
  if (cut.take === 0) return { bundle: null, splitsWrite: false };
  const chosen = orderByRelations(ctx.schema.graph, drafts.slice(0, cut.take));
  const frozenAt = ctx.now();
  const changes: FrozenChange[] = chosen.map((draft, ord) => ({ ...draft.change, ord }));
  await storeFrozenBundle(
    tx,
    { sourceId: ctx.sourceId, sourceBundleId, frozenAt },
    changes.map((change, ord) => ({
      change,
      baseJson: chosen[ord]!.baseJson,
      rowJson: chosen[ord]!.rowJson,
    })),
  );
  return {
    bundle: {
      sourceId: ctx.sourceId,
      sourceBundleId,
      frozenAt,
      attempts: 0,
      committedSeq: null,
      changes,
      wire: chosen.map((draft) => draft.wire),
    },
    splitsWrite: cut.splitsWrite,
  };
}

/** Entries whose local rows are read with one query per table. */
const BUILD_CHUNK = 1_000;

/** A change about to be frozen, with the JSON it is stored and sent as. */
interface Draft {
  readonly table: string;
  readonly op: 'upsert' | 'delete';
  readonly change: Omit<FrozenChange, 'ord'>;
  readonly firstGroup: number;
  readonly lastGroup: number;
  /** Size of the change on the wire (its JSON and a separating comma), in bytes. */
  readonly bytes: number;
  /** Its wire JSON (`JSON.stringify(wireChangeOf(change))`). */
  readonly wire: string;
  readonly rowJson: string | null;
  readonly baseJson: string | null;
}

/**
 * The change of a pending entry, built from the local row as it is now and the base it was
 * made on (its pin, else the row's server state). Null when there is nothing to push: a delete
 * of a row the server does not have alive.
 */
function draftOf(ctx: EngineContext, entry: FreezeCandidate, current: LocalRows): Draft | null {
  const codec = ctx.codecs.get(entry.tbl);
  if (!codec) return null;
  const pk = codec.encodePk(entry.pk) as PrimaryKey;
  const layer0 = entry.known;
  const baseVersion = entry.pinned ? entry.pinVersion : (layer0?.version ?? null);
  const base = entry.pinned ? entry.pinBase : (layer0?.base ?? null);
  const baseJson = entry.pinned ? entry.pinBaseJson : entry.knownBaseJson;
  const local = current.get(entry.tbl)?.get(pk);
  let op: 'upsert' | 'delete';
  let row: Row | null = null;
  let rowJson: string | null = null;
  if (local) {
    op = 'upsert';
    row = codec.pushRowOf(local);
    rowJson = JSON.stringify(row);
  } else {
    const serverHasIt = base !== null || (layer0 !== undefined && !layer0.deleted);
    if (!serverHasIt) return null;
    op = 'delete';
  }
  // The wire JSON, serialised once: the row's JSON is spliced into the rest.
  const head = JSON.stringify({ table: entry.tbl, pk, op, baseVersion });
  const changed = row !== null && base !== null ? changedColumns(row, base) : null;
  const deltas =
    changed !== null ? wireDeltasOf(codec.table, row!, base!, changed, baseVersion) : undefined;
  // The same JSON as wireChangeOf.
  const claim = base === null ? baseClaimOf(entry.op, baseVersion) : null;
  const tail =
    changed !== null
      ? `,"columns":${JSON.stringify(changed)}${deltas === undefined ? '' : `,"deltas":${JSON.stringify(deltas)}`}`
      : claim !== null
        ? `,"${claim}":true`
        : '';
  const wire = rowJson === null ? head : `${head.slice(0, -1)},"row":${rowJson}${tail}}`;
  return {
    table: entry.tbl,
    op,
    change: {
      tbl: entry.tbl,
      pk,
      letter: entry.op,
      op,
      baseVersion,
      base,
      row,
      firstGroup: entry.firstGroup,
      lastGroup: entry.lastGroup,
      firstAt: entry.firstAt,
      conflicts: 0,
    },
    firstGroup: entry.firstGroup,
    lastGroup: entry.lastGroup,
    bytes: utf8Length(wire) + 1,
    wire,
    rowJson,
    baseJson: base === null ? null : (baseJson ?? JSON.stringify(base)),
  };
}

/**
 * Rows that must not be pushed now: dead-lettered rows and rows in a manual conflict, and,
 * transitively, pending upserts that reference one of them (they would fail against the server).
 */
export async function blockedRows(tx: Executor, ctx: EngineContext): Promise<Set<string>> {
  const parked = await readParkedRows(tx);
  const blocked = new Set(parked.map((r) => rowKeyOf(r.tbl, r.pk)));
  if (blocked.size === 0) return blocked;
  const blockedTables = new Set(parked.map((r) => r.tbl));
  let grew = true;
  while (grew) {
    grew = false;
    for (const table of ctx.schema.tables) {
      for (const reference of table.references) {
        if (!blockedTables.has(reference.parentTable)) continue;
        const rows = await readPendingReferences(tx, table, reference);
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
    ...pinnedTo(change.baseVersion, change.base),
  });
}

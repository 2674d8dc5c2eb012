import {
  FerryError,
  createBundleDigest,
  type Bundle,
  type RowEffect,
  type Row,
  type Schema,
} from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import {
  finishFrozenBundle,
  forgetLostCommit,
  readFrozenBundle,
  readStackBase,
  readPending,
  readRowState,
  setApplying,
  writePending,
  writeRowState,
  writeState,
  type Executor,
  type FrozenBundle,
  type FrozenBundleHead,
  type FrozenChange,
  type RowState,
  wireChangeOf,
} from '../local/metadata.js';
import { foldCaptureLog } from '../local/fold-capture-log.js';
import { asPushed, assignedKeysOf, remapTemporaryKeys } from '../local/remap-keys.js';
import { holdCancelledRows } from '../local/cancelled-inserts.js';
import { pinOnRemoteEffect, type Settlement } from '../local/pending-pin.js';
import { decideSettledRow, type SettledRow, type SettledRowFacts } from './settled-row.js';
import type { TableCodec } from '../local/table-codec.js';
import {
  buildIntegrityQueries,
  findIntegrityViolations,
  type IntegrityViolation,
} from './integrity-gate.js';
import { applyEffectsWithoutIntent } from './apply-effects-batch.js';
import { ServerRowWrites } from './server-row-writes.js';
import { normalizeRow } from './normalize-row.js';
import { TouchedRows } from '../local/touched-rows.js';
import { changedKeysOf } from './derived-state.js';
import { rebuildDerived } from './rebuild-derived.js';
import {
  hasOtherIntent,
  intentPresence,
  isInFlight,
  readInflightBases,
  readInflightRows,
  recordCommittedGone,
  recordNewerRowStates,
  type IntentPresence,
} from '../local/apply-store.js';

/** Options of {@link applyRowEffect}. */
export interface EffectOptions {
  /** The row belongs to our own bundle being acknowledged: its intent is settled afterwards. */
  readonly ack: boolean;
  /** Apply even when the version is not newer (a snapshot replaces server state). */
  readonly force: boolean;
  readonly presence: IntentPresence;
}

/**
 * Applies one row effect of server data.
 *
 * 1. An effect not newer than the row's known version is skipped (already applied), unless
 *    `force`d with a different version.
 * 2. The row's server state (version, tombstone, last-synced copy) always moves.
 * 3. A row with local intent keeps its local value: a pending entry is pinned to the base it
 *    was made on (so its push meets OCC and the resolver sees the right base); an `I` entry
 *    becomes `U` once the server knows the row.
 * 4. Otherwise the business row is written (capture is off) and recorded for the gate.
 *
 * Returns whether the effect was applied.
 */
export async function applyRowEffect(
  tx: Executor,
  ctx: EngineContext,
  effect: {
    table: string;
    pk: RowEffect['pk'];
    op: 'upsert' | 'delete';
    rowVersion: number;
    row: Row | null;
  },
  touched: TouchedRows | null,
  options: EffectOptions,
): Promise<boolean> {
  const codec = ctx.codecs.get(effect.table);
  if (!codec) {
    throw new FerryError(
      'bad_response',
      `the server sent a row of unknown table "${effect.table}"`,
    );
  }
  const pk = codec.encodePk(effect.pk);
  const known = await readRowState(tx, effect.table, pk);
  const base = effect.op === 'upsert' ? normalizeRow(codec, effect.row ?? {}) : null;
  if (known) {
    // A snapshot replaces what the file knew; the same version is the same row only on the same
    // history (a server restored from a backup gives its versions to other rows).
    const same = options.force
      ? effect.rowVersion === known.version && JSON.stringify(known.base) === JSON.stringify(base)
      : effect.rowVersion <= known.version;
    if (same) return false;
  }
  await writeRowState(tx, effect.table, pk, effect.rowVersion, base);
  if (options.ack) return true;

  const pending =
    options.presence.pending && ctx.faults?.overwritePendingLocalEdit !== true
      ? await readPending(tx, effect.table, pk)
      : undefined;
  if (pending) {
    // Pinned to the base the edit was made on: the server state before this effect. An edit
    // stacked on the row's change in flight was made on that change's result, which is only
    // known when the change settles: `settleFrozenChange` pins it then, never a remote effect.
    const stacked =
      !pending.pinned && options.presence.other && (await isInFlight(tx, effect.table, pk));
    await writePending(tx, {
      ...pending,
      op: pending.op === 'I' && base !== null ? 'U' : pending.op,
      ...pinOnRemoteEffect(pending, known, stacked),
    });
    return true;
  }
  if (options.presence.other && (await hasOtherIntent(tx, effect.table, pk))) return true;

  if (base !== null) {
    await tx.run(codec.upsertSql, codec.encode(base));
    await touched?.add(codec, pk, 'u');
  } else {
    await tx.run(codec.deleteSql, [pk]);
    await touched?.add(codec, pk, 'd');
  }
  return true;
}

/**
 * The intent of a frozen change is gone (its bundle committed, or the server's row was adopted):
 * the business row goes back to the row's server state, with any pending edits made after the
 * freeze rebased onto it (they keep the columns they changed).
 *
 * A pending edit of a row whose change is in flight is stacked on that change: it was made on
 * the change's result, so its base is only known now, and nothing pinned it meanwhile (see
 * {@link applyRowEffect}). Its pin is set from why the intent is gone (`settled`):
 * - `ack` (default): our bundle is acknowledged in `bundleSeq` order, so the row's server state
 *   is our commit: the pin is released (a later remote change pins it again).
 * - `late-ack`: our bundle was committed at or before the checkpoint (a snapshot or a pull that
 *   did not acknowledge it brought the rows, maybe with newer remote changes on top): the edit
 *   is pinned to our commit as the server answered it (`ferry_committed`), else, for a change
 *   that had no effect, to the change's own base. A newer remote change then meets it as a
 *   conflict with the right base; releasing the pin would push over it.
 * - `adopted`: the server's row was adopted; the edits were made on a change the server never
 *   took: they are pinned to the base the frozen change was made on, so that their push meets
 *   the server's version and goes through the resolver (pushing them against the server's
 *   current version would, for a row the server deleted, re-create it without anyone
 *   re-inserting it).
 *
 * Must run while the change is still in `ferry_inflight` for `late-ack`.
 */
export async function settleFrozenChange(
  tx: Executor,
  ctx: EngineContext,
  change: FrozenChange,
  settled: 'ack' | 'late-ack' | 'adopted' = 'ack',
): Promise<void> {
  const codec = ctx.codecs.get(change.tbl);
  if (!codec) return;
  const pk = codec.encodePk(change.pk);
  const facts = await readSettledRowFacts(tx, codec, pk);
  const changeBase = { changeBaseVersion: change.baseVersion, changeBase: change.base };
  const settlement: Settlement =
    settled === 'ack'
      ? { kind: 'ack' }
      : settled === 'late-ack'
        ? {
            kind: 'late-ack',
            // Read only when an edit is stacked: it is the stacked edit's pin.
            ours: facts.pending ? await readStackBase(tx, change.tbl, pk) : undefined,
            ...changeBase,
          }
        : { kind: 'adopted', ...changeBase };
  await writeSettledRow(tx, codec, pk, decideSettledRow(codec.table, change, facts, settlement));
}

/** What {@link decideSettledRow} needs of a row, read from the file. */
export async function readSettledRowFacts(
  tx: Executor,
  codec: TableCodec,
  pk: SqlValue,
): Promise<SettledRowFacts> {
  const serverState = await readRowState(tx, codec.table.name, pk);
  const pending = await readPending(tx, codec.table.name, pk);
  const local = pending && pending.op !== 'D' ? await tx.all(codec.selectSql, [pk]) : [];
  return { serverState, pending, current: local[0] ? codec.decode(local[0]) : null };
}

/** Writes a decided local row and pending entry. Capture must be off. */
export async function writeSettledRow(
  tx: Executor,
  codec: TableCodec,
  pk: SqlValue,
  settled: SettledRow,
): Promise<void> {
  const { localRow, pending } = settled;
  if (localRow.kind === 'write') await tx.run(codec.upsertSql, codec.encode(localRow.row));
  else if (localRow.kind === 'delete') await tx.run(codec.deleteSql, [pk]);
  if (pending) await writePending(tx, pending);
}

/** Business row := the row's server state (deleted when there is none). Capture must be off. */
export async function restoreServerRow(
  tx: Executor,
  codec: TableCodec,
  pk: SqlValue,
  layer0: RowState | undefined,
): Promise<void> {
  if (layer0?.base) await tx.run(codec.upsertSql, codec.encode(layer0.base));
  else await tx.run(codec.deleteSql, [pk]);
}

/**
 * Settles every change of the bundle in flight (see {@link settleFrozenChange}) inside the
 * caller's transaction, capture off. Set-based for the common case: the changes with their row
 * state come in one query, and the rows without pending edits return to their server state with
 * a few multi-row statements per table; rows with pending edits (their rebase needs the local
 * row) go through {@link settleFrozenChange} one by one.
 *
 * `known`: the server state just recorded for the bundle's rows (by {@link ackKeyOf}), when the
 * caller has it; rows it lacks are read.
 */
export async function settleFrozenBundle(
  tx: Executor,
  ctx: EngineContext,
  settled: 'ack' | 'late-ack',
  known?: ReadonlyMap<string, Row | null>,
): Promise<void> {
  // Settled late, the bundle's rows came with a snapshot, which has no tombstones: the rows
  // our bundle deleted, and those it upserted that are gone since, are known deleted at our
  // commit's version (unless something newer is known), so that a later re-insert of one goes
  // out on our commit, not on "never existed" or on a version older than ours.
  if (settled === 'late-ack') {
    await recordCommittedGone(tx);
  }
  const rows = await readInflightRows(tx);
  const restores = new ServerRowWrites();
  const withPending = new Set<number>();
  let unknown: Map<number, string | null> | null = null;
  for (const row of rows) {
    const codec = ctx.codecs.get(row.tbl);
    if (!codec) continue;
    if (row.pending) {
      withPending.add(row.ord);
      continue;
    }
    let base = known?.get(ackKeyOf(row.tbl, row.pk));
    if (base === undefined) {
      unknown ??= await readInflightBases(tx);
      const text = unknown.get(row.ord) ?? null;
      base = text === null ? null : (JSON.parse(text) as Row);
    }
    // The business row := the row's server state (deleted when there is none).
    restores.set(codec, codec.encodePk(row.pk), base);
  }
  await restores.flush(tx);
  if (withPending.size > 0) {
    const frozen = await readFrozenBundle(tx);
    for (const change of frozen?.changes ?? []) {
      if (withPending.has(change.ord)) await settleFrozenChange(tx, ctx, change, settled);
    }
  }
}

/**
 * SQLite's order of two key values, near enough for locality (numbers before text, text by code
 * unit): writes in this order touch each page once instead of at random.
 */
function compareKeys(a: unknown, b: unknown): number {
  const ta = typeof a === 'number' || typeof a === 'bigint' ? 0 : 1;
  const tb = typeof b === 'number' || typeof b === 'bigint' ? 0 : 1;
  if (ta !== tb) return ta - tb;
  return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
}

/** Outcome of {@link applyBundles}. */
export interface ApplyResult {
  /** Row effects applied (skipped ones not counted). */
  readonly applied: number;
  readonly bundles: number;
  readonly checkpoint: number;
  /** Our bundle in flight was among them: it is settled and gone. */
  readonly acked: FrozenBundleHead | null;
  /** Optional references left dangling. */
  readonly warnings: readonly IntegrityViolation[];
  /** A bundle of our source id was not ours: another install uses it (see {@link ownershipOf}). */
  readonly foreign: boolean;
  /** The derived states rebuilt (see `derived-state.ts`). */
  readonly rebuilt: readonly string[];
}

/**
 * Applies pulled bundles (ascending, all after the checkpoint) inside the caller's transaction,
 * which must run with foreign keys off: capture off, every effect applied, our own bundle in
 * flight acknowledged when it comes by, the checkpoint moved to the last bundle, then the
 * integrity gate. A required reference that dangles throws `integrity_violation` (the caller's
 * transaction rolls back: nothing applied, checkpoint unchanged).
 *
 * Our own bundle is acknowledged set-based: the server state of its rows is recorded with
 * multi-row upserts (skipping versions already known, as {@link applyRowEffect} does), then the
 * bundle is settled with {@link settleFrozenBundle}. Its other effects (cascades, server-side
 * triggers) are applied one by one like any pulled row.
 */
export async function applyBundles(
  tx: Executor,
  ctx: EngineContext,
  bundles: readonly Bundle[],
  frozen: FrozenBundleHead | null,
  checkpoint: number,
  sent?: FrozenBundle,
): Promise<ApplyResult> {
  await foldCaptureLog(tx, ctx.now());
  await setApplying(tx, true);
  const touched = await TouchedRows.start(tx);
  let presence = await intentPresence(tx);
  const total = bundles.reduce((sum, b) => sum + b.rows.length, 0);
  let seen = 0;
  let midHookDone = false;
  const passed = async (rows: number) => {
    seen += rows;
    if (!midHookDone && seen * 2 >= total) {
      midHookDone = true;
      await ctx.hook('mid-pull-apply');
    }
  };
  let applied = 0;
  let acked: FrozenBundleHead | null = null;
  let last = checkpoint;
  let lastToken: string | null = null;
  let foreign = false;
  let ourDigest: string | undefined;
  for (const bundle of bundles) {
    if (bundle.bundleSeq <= last) continue;
    if (bundle.bundleSeq !== last + 1 && ctx.faults?.checkpointWithoutContiguity !== true) {
      throw new FerryError(
        'bad_response',
        `pull skipped from bundle ${last} to ${bundle.bundleSeq}: bundleSeq must be dense`,
      );
    }
    const candidate = acked === null && isOurBundleId(bundle, frozen);
    const verdict = ownershipOf(
      bundle,
      candidate ? frozen : null,
      ctx.sourceId,
      candidate && bundle.digest !== undefined
        ? (ourDigest ??= await frozenDigest(tx, ctx.schema, frozen, sent))
        : undefined,
    );
    if (verdict === 'foreign') {
      foreign = true;
      // Rows whose insert this file undid, pushed by the install that shares our source id.
      if ((await holdCancelledRows(tx, ctx, bundle)) > 0) presence = { ...presence, pending: true };
    }
    const isAck = verdict === 'ack' && frozen !== null;
    // The server said our bundle committed as this seq, and this is another bundle: that answer
    // came from a history the server no longer has (restored from a backup). Sent again.
    if (!isAck && frozen !== null && frozen.committedSeq === bundle.bundleSeq && acked === null) {
      await forgetLostCommit(tx, checkpoint);
    }
    // Rows this file inserted under temporary keys take the server's keys before the bundle's
    // effects meet them (the push answer did it already, unless it was lost).
    await remapTemporaryKeys(
      tx,
      ctx.schema,
      ctx.codecs,
      assignedKeysOf(bundle.rows),
      { sourceId: bundle.sourceId ?? null, sourceBundleId: bundle.sourceBundleId ?? null },
      ctx.now(),
    );
    let others: readonly Bundle['rows'][number][] = bundle.rows;
    let known: ReadonlyMap<string, Row | null> | undefined;
    if (isAck) {
      const ackKeys = await readInflightKeys(tx);
      const ours: Bundle['rows'][number][] = [];
      const rest: Bundle['rows'][number][] = [];
      for (const e of bundle.rows) (ackKeys.has(ackKeyOf(e.table, e.pk)) ? ours : rest).push(e);
      others = rest;
      const recorded = await recordAckedEffects(tx, ctx, ours);
      applied += recorded.applied;
      known = recorded.known ?? undefined;
      await passed(ours.length);
    }
    if (!presence.pending && !presence.other) {
      // No local intent anywhere (nothing pending, in flight or parked): set-based.
      applied += await applyEffectsWithoutIntent(tx, ctx, others, touched, false);
      await passed(others.length);
    } else {
      for (const effect of others) {
        if (await applyRowEffect(tx, ctx, effect, touched, { ack: false, force: false, presence }))
          applied++;
        await passed(1);
      }
    }
    if (isAck) {
      await settleFrozenBundle(tx, ctx, 'ack', known);
      await finishFrozenBundle(tx, frozen, ctx.sourceId);
      acked = frozen;
    }
    last = bundle.bundleSeq;
    lastToken = bundle.token ?? null;
  }
  await ctx.hook('after-apply-before-checkpoint');
  await writeState(tx, 'checkpoint', last);
  if (last !== checkpoint) await writeState(tx, 'checkpoint_token', lastToken);
  const violations = await findIntegrityViolations(tx, buildIntegrityQueries(ctx.schema, touched));
  const required = violations.filter((v) => v.required);
  if (required.length > 0) throw integrityError(required);
  const fresh = bundles.filter((b) => b.bundleSeq > checkpoint);
  const rebuilt = await rebuildDerived(
    tx,
    ctx.derived,
    changedKeysOf(fresh.flatMap((bundle) => bundle.rows)),
  );
  await setApplying(tx, false);
  return {
    applied,
    bundles: fresh.length,
    checkpoint: last,
    acked,
    warnings: violations,
    foreign,
    rebuilt,
  };
}

/** Whether `bundle` names the bundle in flight: its source and `sourceBundleId`. */
function isOurBundleId(
  bundle: Pick<Bundle, 'sourceId' | 'sourceBundleId'>,
  frozen: Pick<FrozenBundleHead, 'sourceId' | 'sourceBundleId'> | null,
): frozen is Pick<FrozenBundleHead, 'sourceId' | 'sourceBundleId'> {
  return (
    frozen !== null &&
    bundle.sourceId !== null &&
    bundle.sourceId.toLowerCase() === frozen.sourceId &&
    bundle.sourceBundleId === frozen.sourceBundleId
  );
}

/**
 * Whose a pulled bundle is. Pure.
 *
 * | the bundle | verdict |
 * |---|---|
 * | the source and id of our bundle in flight (`inFlight`), digest equal to ours or absent | `ack` |
 * | the source and id of our bundle in flight, another digest | `foreign` |
 * | our current source id, with a digest, not our bundle in flight | `foreign` |
 * | anything else | `peer` |
 *
 * `foreign`: another install commits under our source id (a copied file); the bundle is applied
 * like a peer's and the source id must rotate. A bundle without a digest (a server from before
 * digests) is taken by its id, as before. `inFlight` is null unless the bundle names it, and
 * `ourDigest` is the {@link bundleDigest} of its changes when the bundle has a digest.
 */
export function ownershipOf(
  bundle: Pick<Bundle, 'sourceId' | 'sourceBundleId' | 'digest'>,
  inFlight: Pick<FrozenBundleHead, 'sourceId' | 'sourceBundleId'> | null,
  currentSourceId: string,
  ourDigest: string | undefined,
): 'ack' | 'foreign' | 'peer' {
  if (inFlight !== null && isOurBundleId(bundle, inFlight)) {
    return bundle.digest === undefined || bundle.digest === ourDigest ? 'ack' : 'foreign';
  }
  const ours = bundle.sourceId !== null && bundle.sourceId.toLowerCase() === currentSourceId;
  return ours && bundle.digest !== undefined ? 'foreign' : 'peer';
}

/**
 * The {@link bundleDigest} of the bundle in flight, as the server digests what it was sent. `sent`:
 * the bundle as this round trip sent it, when the caller has it in memory: taken when it is the
 * bundle in flight (same source, id and number of changes), so the rows need not be read back.
 */
async function frozenDigest(
  tx: Executor,
  schema: Schema,
  head: FrozenBundleHead | null,
  sent: FrozenBundle | undefined,
): Promise<string | undefined> {
  const changes =
    head !== null &&
    sent !== undefined &&
    sent.sourceId === head.sourceId &&
    sent.sourceBundleId === head.sourceBundleId &&
    sent.changes.length === head.changeCount
      ? sent.changes
      : await readPushedChanges(tx, schema);
  if (changes === undefined) return undefined;
  // Built a run of changes at a time, giving the event loop its turns: a large bundle's digest
  // in one go held it for tens of milliseconds.
  const digest = createBundleDigest();
  for (let start = 0; start < changes.length; start += DIGEST_STEP) {
    if (start > 0) await tx.pause?.();
    digest.add(changes.slice(start, start + DIGEST_STEP).map((c) => wireChangeOf(c, schema)));
  }
  return digest.finish();
}

/** The changes of the bundle in flight as they were pushed (with their temporary keys). */
async function readPushedChanges(
  tx: Executor,
  schema: Schema,
): Promise<readonly FrozenChange[] | undefined> {
  const frozen = await readFrozenBundle(tx);
  return frozen === null ? undefined : (await asPushed(tx, schema, frozen)).changes;
}

/** Changes digested (or acknowledged effects read) between two chances for the loop to turn. */
const DIGEST_STEP = 500;
const EFFECTS_STEP = 1_000;

/**
 * The key that matches a row effect of our acknowledged bundle with its change: table and
 * primary key as text (the server may send back as text a key we sent as a number).
 */
function ackKeyOf(tbl: string, pk: unknown): string {
  return `${tbl}\u0000${String(pk)}`;
}

async function readInflightKeys(tx: Executor): Promise<Set<string>> {
  return new Set((await readInflightRows(tx)).map((r) => ackKeyOf(r.tbl, r.pk)));
}

/**
 * Records the server state of our acknowledged rows (what {@link applyRowEffect} does with
 * `ack`), with multi-row upserts in key order; an effect not newer than the known version is
 * skipped. Returns how many were recorded and, when every effect was recorded and no row came
 * twice, the server copy now stored for each row (by {@link ackKeyOf}), so the settling need not
 * read it back.
 */
async function recordAckedEffects(
  tx: Executor,
  ctx: EngineContext,
  effects: readonly Bundle['rows'][number][],
): Promise<{ applied: number; known: Map<string, Row | null> | null }> {
  const rows: SqlValue[][] = [];
  const known = new Map<string, Row | null>();
  for (const [i, effect] of effects.entries()) {
    if (i % EFFECTS_STEP === EFFECTS_STEP - 1) await tx.pause?.();
    const codec = ctx.codecs.get(effect.table);
    if (!codec) {
      throw new FerryError(
        'bad_response',
        `the server sent a row of unknown table "${effect.table}"`,
      );
    }
    const base = effect.op === 'upsert' ? normalizeRow(codec, effect.row ?? {}) : null;
    known.set(ackKeyOf(effect.table, effect.pk), base);
    rows.push([
      effect.table,
      codec.encodePk(effect.pk),
      effect.rowVersion,
      base === null ? 1 : 0,
      base === null ? null : JSON.stringify(base),
    ]);
  }
  // A stable sort: two effects of one row keep their order.
  rows.sort((a, b) => (a[0] === b[0] ? compareKeys(a[1], b[1]) : a[0]! < b[0]! ? -1 : 1));
  const applied = await recordNewerRowStates(tx, rows);
  return {
    applied,
    known: applied === effects.length && known.size === effects.length ? known : null,
  };
}

/** The error of a page the integrity gate refused. */
export function integrityError(violations: readonly IntegrityViolation[]): FerryError {
  const first = violations[0]!;
  return new FerryError(
    'integrity_violation',
    `${violations.length} required reference(s) would dangle, e.g. ${first.table}.${first.column} of ${String(first.pk)} → ${first.parentTable} ${String(first.parentPk)}; the page was not applied`,
    { details: { violations } },
  );
}

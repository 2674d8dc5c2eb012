import {
  bundleDigest,
  characterLength,
  type Change,
  type Conflict,
  type PrimaryKey,
  type Row,
  type RowEffect,
  type Schema,
  type Table,
} from '@ferry/protocol';
import { jsonEqual, rowsEqual, stableJson } from './stable-json.js';

/**
 * The oracle: a model of what a protocol-v1 server must hold and answer, written as plainly
 * as possible and independent of the server's code. It predicts the outcome of every push
 * (replay, gap, validation, ownership, references, conflicts, commit with cascades), checks the
 * server's actual answers against the prediction, and keeps every user's bundle log, so it can
 * say what a pull, a snapshot or a client at any checkpoint must see.
 *
 * Row versions and server-derived values are the server's choice: the model adopts them from
 * committed answers after checking that versions only rise.
 *
 * Invariants the model enforces (each broken one is a violation):
 * 1. A user's bundles have seqs 1, 2, 3 … with no gap, each committed once.
 * 2. A `(sourceId, sourceBundleId)` commits at most once; a resend is answered with the stored
 *    answer, byte for byte the same rows.
 * 3. A commit applies exactly the pushed changes plus their cascades, nothing else.
 * 4. Conflicts, refusals and pull pages are exactly those the protocol prescribes.
 */
export class ServerModel {
  #schema: Schema;
  readonly #rows = new Map<string, ModelRow>();
  readonly #users = new Map<string, UserModel>();
  readonly #resurrections: Resurrection[] = [];
  readonly #states = new Map<string, ReadonlyMap<string, { version: number; row: Row }>>();
  /** Per row key: the steps at which it became alive (true) or not (false). */
  readonly #history = new Map<string, { step: number; alive: boolean }[]>();
  #epoch = 0;

  constructor(schema: Schema) {
    this.#schema = schema;
  }

  /** The schema the server runs now (the newest version it migrated to). */
  get schema(): Schema {
    return this.#schema;
  }

  /**
   * The server migrated its database to `next`, a later version that adds columns (nullable or
   * with a default): every row it keeps gets each added column's default, as the server's
   * `ALTER TABLE … ADD COLUMN` gives them. Bundles keep the shape they were committed in.
   */
  migrate(next: Schema): void {
    for (const [key, row] of this.#rows) {
      if (row.row === null) continue;
      const before = this.#schema.table(row.table);
      const after = next.requireTable(row.table);
      const added = after.columns.filter((c) => !before?.column(c.name) && !c.serverDerived);
      if (added.length === 0) continue;
      const filled: Row = { ...row.row };
      for (const column of added) filled[column.name] = column.default ?? null;
      this.#rows.set(key, { ...row, row: filled });
    }
    this.#states.clear();
    this.#schema = next;
  }

  /** Every re-creation of a deleted row, for the no-resurrection check. */
  get resurrections(): readonly Resurrection[] {
    return this.#resurrections;
  }

  /** The user's highest committed bundleSeq. */
  lastSeq(userId: string): number {
    return this.#user(userId).lastSeq;
  }

  /** The user's bundles, all of them (the model never forgets, whatever the server prunes). */
  bundles(userId: string): readonly ModelBundle[] {
    return this.#user(userId).bundles;
  }

  /** Alive rows of the user now, by row key, as full wire rows. */
  aliveRows(userId: string): Map<string, ModelRow> {
    const out = new Map<string, ModelRow>();
    for (const [key, row] of this.#rows) {
      if (row.owner === userId && !row.deleted) out.set(key, row);
    }
    return out;
  }

  /** The source whose bundle wrote the row's current version (null: a backend write). */
  #writerOf(user: UserModel, row: ModelRow): string | null {
    for (let i = user.bundles.length - 1; i >= 0; i--) {
      const bundle = user.bundles[i]!;
      const wrote = bundle.rows.some(
        (e) =>
          e.rowVersion === row.version && e.table === row.table && String(e.pk) === String(row.pk),
      );
      if (wrote) return bundle.sourceId;
    }
    return null;
  }

  /** The row (alive or tombstone, any user), or undefined when the server never had it. */
  row(table: string, pk: PrimaryKey): ModelRow | undefined {
    return this.#rows.get(rowKey(table, pk));
  }

  /**
   * Whether the row was not alive for `userId` on the server at some moment at or after `step`
   * (what a local delete made at `step` wants).
   */
  goneSince(userId: string, table: string, pk: PrimaryKey, step: number): boolean {
    const history = this.#history.get(rowKey(table, pk)) ?? [];
    const row = this.#rows.get(rowKey(table, pk));
    if (row && row.owner !== userId) return true;
    let aliveAtStep = false;
    for (const entry of history) {
      if (entry.step <= step) aliveAtStep = entry.alive;
      else if (!entry.alive) return true;
    }
    return !aliveAtStep;
  }

  /** Every row key the server ever had, with its owner. */
  allRows(): IterableIterator<ModelRow> {
    return this.#rows.values();
  }

  /** Alive rows of the user as of bundle `seq` (what a client at that checkpoint must hold). */
  stateAt(userId: string, seq: number): ReadonlyMap<string, { version: number; row: Row }> {
    const cacheKey = `${userId}\u0000${seq}`;
    const cached = this.#states.get(cacheKey);
    if (cached) return cached;
    const state = new Map<string, { version: number; row: Row }>();
    for (const bundle of this.#user(userId).bundles) {
      if (bundle.bundleSeq > seq) break;
      for (const effect of bundle.rows) {
        const key = rowKey(effect.table, effect.pk);
        if (effect.op === 'upsert') state.set(key, { version: effect.rowVersion, row: effect.row });
        else state.delete(key);
      }
    }
    // Bundles never change once recorded, so the state at a seq never does either.
    if (seq <= this.#user(userId).lastSeq) {
      if (this.#states.size > 64) this.#states.clear();
      this.#states.set(cacheKey, state);
    }
    return state;
  }

  /**
   * Forgets pull history the way the server's count-based retention does, and with it the
   * tombstones at or below each user's new floor: the server keeps no state of those rows (the
   * model keeps them, marked `purged`, so re-creations still count as resurrections).
   */
  prune(maxBundlesPerUser: number): void {
    for (const [userId, user] of this.#users) {
      const through = Math.max(user.prunedThrough, user.lastSeq - maxBundlesPerUser);
      const risen = Math.min(through, user.lastSeq) > user.prunedThrough;
      user.prunedThrough = Math.min(through, user.lastSeq);
      if (!risen) continue;
      for (const [key, row] of this.#rows) {
        if (row.deleted && !row.purged && row.owner === userId && row.version <= through) {
          this.#rows.set(key, { ...row, purged: true });
        }
      }
    }
  }

  /** The row's state as the server keeps it: undefined for none, or a purged tombstone. */
  #stateOf(table: string, pk: PrimaryKey): ModelRow | undefined {
    const row = this.#rows.get(rowKey(table, pk));
    return row?.purged === true ? undefined : row;
  }

  // ---- pushes -------------------------------------------------------------------------------

  /** What the server must answer to a push (pure: the model does not change). */
  predictPush(input: PushCall): PushPrediction {
    const user = this.#user(input.userId);
    if (input.pullAfter !== undefined) {
      const refused = this.#cursorRefusal(user, input.pullAfter, input.pullToken);
      if (refused !== null) return { kind: 'rejected', code: refused };
    }
    // The bases point: refused as a cursor would be, except that a pruned one passes.
    if (input.basesAt !== undefined) {
      const { bundleSeq, token } = input.basesAt;
      if (this.#cursorRefusal(user, bundleSeq, token) === 'cursor_unknown') {
        return { kind: 'rejected', code: 'cursor_unknown' };
      }
    }
    const source = user.sources.get(input.sourceId);
    const last = source?.lastCommitted ?? 0;
    if (input.sourceBundleId === last && last > 0) {
      // A copy with other changes under the committed id (a stray copy of a push that was
      // answered with a conflict and then re-sent resolved, say) is not a replay.
      return source!.digest === bundleDigest(input.changes)
        ? { kind: 'replay', bundle: source!.bundle }
        : { kind: 'rejected', code: 'bundle_mismatch', lastCommitted: last };
    }
    if (input.sourceBundleId !== last + 1) {
      return {
        kind: 'rejected',
        code: input.sourceBundleId > last ? 'bundle_gap' : 'stale_bundle',
        lastCommitted: last,
      };
    }
    const changes = input.changes;
    const schemaErrors = this.#schemaErrors(changes);
    if (schemaErrors.length > 0) {
      return { kind: 'rejected', code: 'validation_failed', indices: schemaErrors };
    }
    const forbidden = changes
      .map((c, index) => ({ c, index }))
      .filter(({ c }) => {
        const row = this.#stateOf(c.table, c.pk);
        return row !== undefined && row.owner !== input.userId;
      })
      .map(({ index }) => index);
    if (forbidden.length > 0) return { kind: 'rejected', code: 'forbidden', indices: forbidden };
    const fkErrors = this.#referenceErrors(input.userId, changes);
    if (fkErrors.length > 0) {
      return { kind: 'rejected', code: 'validation_failed', indices: fkErrors };
    }
    const conflicts: PredictedConflict[] = [];
    // The server keeps no state of rows whose tombstone it purged with the user's history, at
    // or below its floor: a re-creation on such a tombstone (`baseDeleted`) is no conflict, an
    // insert that may have been pushed before (`maybePushed`) is one once anything was purged.
    const floor = user.prunedThrough;
    changes.forEach((change, index) => {
      const row = this.#stateOf(change.table, change.pk);
      const conflicting =
        row !== undefined
          ? change.baseVersion !== row.version && !this.#commutes(change, row)
          : change.op === 'delete'
            ? false
            : change.baseVersion === null
              ? (change.maybePushed === true || change.columns !== undefined) && floor > 0
              : !(change.baseDeleted === true && change.baseVersion <= floor);
      if (conflicting) {
        conflicts.push({
          index,
          serverVersion: row?.version ?? null,
          serverDeleted: row?.deleted ?? false,
          serverRow: row && !row.deleted ? row.row : null,
          // A base above the row's version can only come from a history the server lost to a
          // restore: the edit was made there, and meeting the restored row is no spurious
          // conflict.
          ownVersion:
            this.#epoch === 0 &&
            input.diverged !== true &&
            row !== undefined &&
            !row.deleted &&
            (change.baseVersion === null || change.baseVersion <= row.version) &&
            this.#writerOf(user, row) === input.sourceId,
        });
      }
    });
    if (conflicts.length > 0) return { kind: 'conflict', conflicts };
    return {
      kind: 'commit',
      bundleSeq: user.lastSeq + 1,
      effects: this.#effectsOf(
        input.userId,
        changes.map((c) =>
          c.op === 'upsert'
            ? { op: 'upsert', table: c.table, row: c.row, columns: c.columns, deltas: c.deltas }
            : c,
        ),
      ),
    };
  }

  /**
   * Whether a change over another version of its row commits anyway: an upsert of a live row
   * that writes nothing but counters it carries deltas for (they add up whatever happened
   * since), or a delete of an append-only table's row (devices never change one).
   */
  #commutes(change: Change, row: ModelRow): boolean {
    const table = this.#schema.requireTable(change.table);
    if (change.op === 'delete') return table.appendOnly;
    if (change.baseVersion === null || row.deleted || change.deltas === undefined) return false;
    const written = (change.columns ?? Object.keys(change.row)).filter((name) => {
      const column = table.column(name);
      return (
        column !== undefined && !column.isOwner && !column.isPrimaryKey && !column.serverDerived
      );
    });
    return written.length > 0 && written.every((name) => Object.hasOwn(change.deltas!, name));
  }

  /**
   * Checks the server's answer to a push against the prediction and, for a commit, records the
   * bundle. Returns the violations (empty when the answer is right).
   */
  settlePush(
    input: PushCall,
    prediction: PushPrediction,
    actual: ActualPush,
    at: { step: number; now: number },
  ): string[] {
    const what = `push ${input.sourceId.slice(0, 8)}#${input.sourceBundleId} of ${input.userId}`;
    // Invariant i holds within one history. Once the server was restored from a backup, devices
    // carry edits made on the history it lost, with bases from there: meeting the restored rows
    // as conflicts is what should happen to them, and the resolvers settle them.
    const stale =
      this.#epoch === 0 && (prediction.kind === 'conflict' || prediction.kind === 'commit')
        ? input.diverged === true
          ? []
          : this.#staleBases(what, input)
        : [];
    return [...stale, ...this.#settle(what, input, prediction, actual, at)];
  }

  /**
   * Invariant i: a device's edits are made on its own commits. A change whose base is older than
   * the version its own source last committed for that row (or that claims a new row the source
   * itself committed) was made on a base the device had already moved past: it meets its own
   * commit as a conflict, or hands the resolver a wrong base after a peer's change, and a
   * resolver may then drop the edit.
   */
  #staleBases(what: string, input: PushCall): string[] {
    const own = this.#user(input.userId).sources.get(input.sourceId)?.own;
    if (!own) return [];
    const problems: string[] = [];
    input.changes.forEach((change, index) => {
      const committed = own.get(rowKey(change.table, change.pk));
      if (committed === undefined) return;
      // A re-insert over a tombstone may not know the delete's version (a snapshot carries no
      // tombstones): meeting it as a conflict is the protocol's rule, and the resolver's to settle.
      const key = rowKey(change.table, change.pk);
      const row = this.#rows.get(key);
      if (change.op === 'upsert' && change.baseVersion === null && row?.deleted === true) return;
      // Nor one whose own commit was a delete at or below the user's pruned floor: the device
      // forgot that tombstone when a pull told it the floor, as the server forgot its own.
      const user = this.#user(input.userId);
      const ownState = this.#stateAt(user, key, committed);
      if (
        change.op === 'upsert' &&
        change.baseVersion === null &&
        committed <= user.prunedThrough &&
        ownState !== undefined &&
        ownState !== 'pruned' &&
        ownState.deleted
      ) {
        return;
      }
      if (change.baseVersion === null || change.baseVersion < committed) {
        problems.push(
          `${what}: change ${index} (${change.table} ${change.pk}) is based on v${String(change.baseVersion)}, older than v${committed}, which this device committed itself: a stale base`,
        );
      }
    });
    return problems;
  }

  #settle(
    what: string,
    input: PushCall,
    prediction: PushPrediction,
    actual: ActualPush,
    at: { step: number; now: number },
  ): string[] {
    switch (prediction.kind) {
      case 'rejected': {
        if (actual.kind !== 'error' || actual.code !== prediction.code) {
          return [`${what}: expected ${prediction.code}, the server answered ${describe(actual)}`];
        }
        const problems: string[] = [];
        if (prediction.indices) {
          const got = indicesOf(actual.details, prediction.code === 'forbidden');
          if (stableJson([...got].sort()) !== stableJson([...prediction.indices].sort())) {
            problems.push(
              `${what}: ${prediction.code} should name changes ${stableJson(prediction.indices)}, named ${stableJson(got)}`,
            );
          }
        }
        if (prediction.lastCommitted !== undefined) {
          const got = (actual.details as { lastCommitted?: unknown } | undefined)?.lastCommitted;
          if (got !== prediction.lastCommitted) {
            problems.push(
              `${what}: ${prediction.code} should say lastCommitted ${prediction.lastCommitted}, said ${String(got)}`,
            );
          }
        }
        return problems;
      }
      case 'replay':
        if (actual.kind !== 'committed') {
          return [`${what}: a resend must be answered as a replay, got ${describe(actual)}`];
        }
        if (
          actual.bundleSeq !== prediction.bundle.bundleSeq ||
          // An older client's answer comes as the stored rows while its bundle is kept (see
          // SimServer), in its version's shape once the bundle was pruned.
          (!jsonEqual(actual.rows, prediction.bundle.rows) &&
            !jsonEqual(
              actual.rows,
              projectBundle(input.view ?? this.#schema, prediction.bundle).rows,
            ))
        ) {
          return [
            `${what}: a resend was committed again or answered differently (bundleSeq ${actual.bundleSeq}, first committed as ${prediction.bundle.bundleSeq}): not exactly-once`,
          ];
        }
        return [];
      case 'conflict': {
        if (actual.kind !== 'conflict') {
          return [`${what}: expected a conflict, the server answered ${describe(actual)}`];
        }
        const problems: string[] = [];
        // The head is the user's last bundle, under the token the server gave it.
        if (actual.head !== undefined) {
          const user = this.#user(input.userId);
          const known = user.bundles[actual.head.bundleSeq - 1]?.token;
          if (
            actual.head.bundleSeq !== user.lastSeq ||
            (known !== undefined && known !== actual.head.token)
          ) {
            problems.push(
              `${what}: the conflict answer names head ${actual.head.bundleSeq} (${actual.head.token.slice(0, 8)}), not the user's last bundle ${user.lastSeq}`,
            );
          }
        }
        const got = new Map(actual.conflicts.map((c) => [c.index, c]));
        for (const want of prediction.conflicts) {
          const c = got.get(want.index);
          const change = input.changes[want.index]!;
          if (!c) {
            problems.push(
              `${what}: change ${want.index} (${change.table} ${change.pk}) should conflict`,
            );
            continue;
          }
          if (
            c.serverVersion !== want.serverVersion ||
            c.serverDeleted !== want.serverDeleted ||
            !jsonEqual(
              c.serverRow,
              want.serverRow && projectRow(input.view, change.table, want.serverRow),
            )
          ) {
            problems.push(
              `${what}: conflict on ${change.table} ${change.pk} reports server v${c.serverVersion} deleted=${c.serverDeleted}, the model has v${want.serverVersion} deleted=${want.serverDeleted}`,
            );
          }
          if (want.ownVersion) {
            // Invariant i: the device's edits are made on its own committed rows, so its own
            // commit can never be what they conflict with. Such a conflict reaches the resolver
            // with a wrong base, and a resolver may then drop the edit.
            problems.push(
              `${what}: change ${want.index} (${change.table} ${change.pk}, baseVersion ${String(change.baseVersion)}) conflicts with v${String(want.serverVersion)}, which this device committed itself: a spurious conflict`,
            );
          }
          got.delete(want.index);
        }
        for (const index of got.keys()) {
          problems.push(`${what}: change ${index} was reported as a conflict but is none`);
        }
        return problems;
      }
      case 'commit': {
        if (actual.kind !== 'committed') {
          return [
            `${what}: expected a commit, the server answered ${describe(actual)}${actual.kind === 'error' ? ` ${JSON.stringify(actual.details)}` : ''}`,
          ];
        }
        if (actual.bundleSeq !== prediction.bundleSeq) {
          return [
            `${what}: committed as bundleSeq ${actual.bundleSeq}, the next seq of ${input.userId} is ${prediction.bundleSeq} (bundleSeq must be dense)`,
          ];
        }
        const problems = [
          ...this.#untouchedColumns(what, input.changes, actual.rows),
          ...this.#counters(what, input.changes, actual.rows),
          ...this.#checkEffects(what, input.userId, prediction.effects, actual.rows, at),
        ];
        if (problems.length > 0) return problems;
        const bundle: ModelBundle = {
          bundleSeq: actual.bundleSeq,
          sourceId: input.sourceId,
          sourceBundleId: input.sourceBundleId,
          rows: actual.rows,
          token: actual.token,
        };
        this.#record(input.userId, bundle, at.step);
        const sources = this.#user(input.userId).sources;
        const own = new Map(sources.get(input.sourceId)?.own);
        const pushed = new Set(input.changes.map((c) => rowKey(c.table, c.pk)));
        for (const effect of actual.rows) {
          const key = rowKey(effect.table, effect.pk);
          if (pushed.has(key)) own.set(key, effect.rowVersion);
        }
        sources.set(input.sourceId, {
          lastCommitted: input.sourceBundleId,
          digest: bundleDigest(input.changes),
          bundle,
          own,
        });
        return [];
      }
    }
  }

  /**
   * The column-level rule, checked on its own: a committed upsert of a row the server had
   * changed no client column that the push did not write (its `columns`, else its row's keys).
   */
  #untouchedColumns(
    what: string,
    changes: readonly Change[],
    committed: readonly RowEffect[],
  ): string[] {
    const problems: string[] = [];
    const after = new Map(committed.map((e) => [rowKey(e.table, e.pk), e]));
    const deleted = new Set(
      committed.filter((e) => e.op === 'delete').map((e) => rowKey(e.table, e.pk)),
    );
    for (const change of changes) {
      if (change.op !== 'upsert') continue;
      const before = this.#rows.get(rowKey(change.table, change.pk));
      const effect = after.get(rowKey(change.table, change.pk));
      if (!before || before.deleted || before.row === null || effect?.op !== 'upsert') continue;
      const named = new Set(change.columns ?? Object.keys(change.row));
      for (const column of this.#schema.requireTable(change.table).clientColumns) {
        if (column.isPrimaryKey || column.isOwner || named.has(column.name)) continue;
        // A `set null` cascade of a parent deleted in the same bundle is the server's to write.
        const parent = column.reference;
        if (
          parent?.onDelete === 'set null' &&
          deleted.has(rowKey(parent.parentTable, before.row[column.name] as PrimaryKey))
        ) {
          continue;
        }
        if (!jsonEqual(before.row[column.name] ?? null, effect.row[column.name] ?? null)) {
          problems.push(
            `${what}: ${change.table} ${String(change.pk)} had column ${column.name} changed by a push that did not write it (an untouched column)`,
          );
        }
      }
    }
    return problems;
  }

  /**
   * The counter invariant, checked on its own: a committed upsert of a live row that carried a
   * delta for a counter left it at its value before plus the delta (no increment lost, none
   * applied twice). With convergence, every counter ends at its first value plus every increment
   * committed since (a backend write sets it anew).
   */
  #counters(what: string, changes: readonly Change[], committed: readonly RowEffect[]): string[] {
    const problems: string[] = [];
    const after = new Map(committed.map((e) => [rowKey(e.table, e.pk), e]));
    for (const change of changes) {
      if (change.op !== 'upsert' || change.deltas === undefined) continue;
      const before = this.#rows.get(rowKey(change.table, change.pk));
      const effect = after.get(rowKey(change.table, change.pk));
      if (!before || before.deleted || before.row === null || effect?.op !== 'upsert') continue;
      for (const [column, delta] of Object.entries(change.deltas)) {
        const want = counterOf(before.row[column]) + delta;
        const got = effect.row[column];
        if (got !== want) {
          problems.push(
            `${what}: ${change.table} ${String(change.pk)}.${column} was ${String(before.row[column])}, the push added ${delta}, and it committed ${String(got)}, not ${want}: a counter's increment lost or applied twice`,
          );
        }
      }
    }
    return problems;
  }

  // ---- backend writes -----------------------------------------------------------------------

  /** The effects a backend write of these operations must have (pure). */
  predictBackendWrite(userId: string, ops: readonly BackendOp[]): PredictedEffect[] {
    return this.#effectsOf(userId, ops);
  }

  /** Checks and records the bundle a backend write committed (read back with a pull). */
  settleBackendWrite(
    userId: string,
    predicted: readonly PredictedEffect[],
    bundle: ModelBundle | undefined,
    at: { step: number; now: number },
  ): string[] {
    const what = `backend write of ${userId}`;
    if (predicted.length === 0) {
      return bundle ? [`${what}: changed nothing but committed bundle ${bundle.bundleSeq}`] : [];
    }
    if (!bundle) return [`${what}: no bundle was committed`];
    const next = this.#user(userId).lastSeq + 1;
    if (bundle.bundleSeq !== next || bundle.sourceId !== null || bundle.sourceBundleId !== null) {
      return [
        `${what}: committed as bundle ${bundle.bundleSeq} (source ${String(bundle.sourceId)}), expected ${next} without a source`,
      ];
    }
    const problems = this.#checkEffects(what, userId, predicted, bundle.rows, at);
    if (problems.length === 0) this.#record(userId, bundle, at.step);
    return problems;
  }

  // ---- pulls and snapshots ------------------------------------------------------------------

  /** Checks a pull answer (`GET /v1/pull` or the pull part of `POST /v1/sync`). */
  checkPull(
    userId: string,
    after: number,
    limit: number,
    actual: ActualPull,
    token?: string,
    view?: Schema,
  ): string[] {
    const user = this.#user(userId);
    const what = `pull of ${userId} after ${after}`;
    const expected = this.#cursorRefusal(user, after, token);
    if (expected !== null || actual.kind === 'error') {
      if (actual.kind === 'error' && actual.code === expected) return [];
      return [`${what}: expected ${expected ?? 'a page'}, the server answered ${describe(actual)}`];
    }
    const problems: string[] = [];
    if (actual.stableBundleSeq !== user.lastSeq) {
      problems.push(
        `${what}: stableBundleSeq ${actual.stableBundleSeq}, the model has ${user.lastSeq}`,
      );
    }
    const remaining = user.bundles.filter((b) => b.bundleSeq > after);
    let take = 0;
    let rows = 0;
    for (const bundle of remaining) {
      if (take > 0 && rows + bundle.rows.length > limit) break;
      take++;
      rows += bundle.rows.length;
    }
    const want = remaining.slice(0, take);
    if (actual.bundles.length !== want.length) {
      problems.push(
        `${what} (limit ${limit}): ${actual.bundles.length} bundles, expected ${want.length} (${want.map((b) => b.bundleSeq).join(',')})`,
      );
    }
    actual.bundles.forEach((bundle, i) => {
      const model = want[i] && projectBundle(view ?? this.#schema, want[i]);
      if (!model || bundleText(bundle) !== bundleText(model)) {
        problems.push(
          `${what}: bundle ${i} is seq ${bundle.bundleSeq} from ${String(bundle.sourceId)}, expected ${model ? `seq ${model.bundleSeq} from ${String(model.sourceId)}` : 'none'} with the same rows`,
        );
      }
    });
    if (actual.hasMore !== want.length < remaining.length) {
      problems.push(
        `${what}: hasMore ${actual.hasMore}, expected ${want.length < remaining.length}`,
      );
    }
    return problems;
  }

  /**
   * Checks a complete snapshot stream (its lines parsed), asked with the client's checkpoint
   * `after` (and `token`) or without one: its `afterHistory` is the pull cursor's verdict on it.
   */
  checkSnapshot(
    userId: string,
    lines: readonly unknown[],
    cursor?: { readonly after: number; readonly token?: string | undefined },
    view?: Schema,
  ): string[] {
    const what = `snapshot of ${userId}`;
    const header = lines[0] as { snapshotBundleSeq?: unknown; afterHistory?: unknown } | undefined;
    const end = lines[lines.length - 1] as { end?: unknown; rowCount?: unknown } | undefined;
    const problems: string[] = [];
    const refusal = cursor && this.#cursorRefusal(this.#user(userId), cursor.after, cursor.token);
    const verdict =
      cursor === undefined
        ? undefined
        : refusal === null
          ? 'kept'
          : refusal === 'history_pruned'
            ? 'pruned'
            : 'lost';
    if (header?.afterHistory !== verdict) {
      problems.push(
        `${what}${cursor ? ` asked after ${cursor.after}` : ''}: afterHistory ${String(header?.afterHistory)}, the model says ${String(verdict)}`,
      );
    }
    if (header?.snapshotBundleSeq !== this.#user(userId).lastSeq) {
      problems.push(
        `${what}: snapshotBundleSeq ${String(header?.snapshotBundleSeq)}, the model has ${this.#user(userId).lastSeq}`,
      );
    }
    const body = lines.slice(1, -1) as {
      table: string;
      pk: PrimaryKey;
      rowVersion: number;
      row: Row;
    }[];
    if (end?.end !== true || end.rowCount !== body.length) {
      problems.push(`${what}: the end line does not count ${body.length} rows`);
    }
    const alive = this.aliveRows(userId);
    const order = new Map(this.#schema.tables.map((t, i) => [t.name, i]));
    let lastTable = -1;
    for (const line of body) {
      const key = rowKey(line.table, line.pk);
      const model = alive.get(key);
      if (
        !model ||
        model.version !== line.rowVersion ||
        !jsonEqual(projectRow(view ?? this.#schema, line.table, model.row), line.row)
      ) {
        problems.push(
          `${what}: row ${line.table} ${line.pk} v${line.rowVersion} is not the model's`,
        );
      }
      alive.delete(key);
      const index = order.get(line.table) ?? -1;
      if (index < lastTable)
        problems.push(`${what}: ${line.table} rows come after a child table's`);
      lastTable = Math.max(lastTable, index);
    }
    for (const row of alive.values()) {
      problems.push(`${what}: row ${row.table} ${row.pk} is missing`);
    }
    return problems;
  }

  /**
   * What a pull cursor is refused with (protocol.md): past the last bundle, `cursor_unknown`;
   * older than the retained history, `history_pruned`; a history token that is not the one the
   * server gave bundle `after` (the model learns every token from the answers), `cursor_unknown`
   * too. Null for a good cursor.
   */
  #cursorRefusal(
    user: UserModel,
    after: number,
    token: string | undefined,
  ): 'cursor_unknown' | 'history_pruned' | null {
    if (after > user.lastSeq) return 'cursor_unknown';
    if (after < user.prunedThrough) return 'history_pruned';
    if (token === undefined || after === 0) return null;
    const known = user.bundles[after - 1]?.token;
    return known !== undefined && known !== token ? 'cursor_unknown' : null;
  }

  /** The history token the server gave bundle `seq` of the user, when an answer showed it. */
  tokenAt(userId: string, seq: number): string | undefined {
    return this.#user(userId).bundles[seq - 1]?.token;
  }

  /** How many times the server was restored from a backup (bundle seqs repeat across them). */
  get epoch(): number {
    return this.#epoch;
  }

  /**
   * Everything the server holds, to put back with {@link restore} when the simulated operator
   * restores the server's database from a backup taken now.
   */
  backup(): ModelBackup {
    return structuredClone({ rows: this.#rows, users: this.#users });
  }

  /**
   * The server is its backup again: rows, bundles, sources and cursors as they were. What
   * happened since stays in the record of events (resurrections, each row's alive history, as
   * of `step`), and bundle seqs count from the backup's again, in a new epoch.
   */
  restore(backup: ModelBackup, step: number): void {
    const restored = structuredClone(backup);
    const keys = new Set([...this.#rows.keys(), ...restored.rows.keys()]);
    for (const key of keys) {
      const before = this.#rows.get(key);
      const after = restored.rows.get(key);
      const wasAlive = before !== undefined && !before.deleted;
      const isAlive = after !== undefined && !after.deleted;
      if (wasAlive === isAlive) continue;
      const history = this.#history.get(key) ?? [];
      history.push({ step, alive: isAlive });
      this.#history.set(key, history);
    }
    this.#rows.clear();
    for (const [key, row] of restored.rows) this.#rows.set(key, row);
    this.#users.clear();
    for (const [userId, user] of restored.users) this.#users.set(userId, user);
    this.#states.clear();
    this.#epoch++;
  }

  // ---- internals ----------------------------------------------------------------------------

  /**
   * Invariant k (`foreign-base`): every base a judged push carries is the server's state of the
   * row at that version in the current history: the same live row when the file keeps the base
   * row, at least a state of that row at that version when it does not. `bases` is the pushing
   * device's bundle in flight as its file holds it (see `LocalInspector.frozenBases`); a change
   * whose file entry differs from what was sent (a later retry, a base dropped since) is not
   * judged here.
   */
  foreignBases(
    what: string,
    input: PushCall,
    bases: ReadonlyMap<
      string,
      { baseVersion: number | null; base: Row | null; row: string | null }
    >,
    compared: Schema = this.#schema,
  ): string[] {
    const user = this.#user(input.userId);
    const problems: string[] = [];
    input.changes.forEach((change, index) => {
      if (change.baseVersion === null) return;
      const key = rowKey(change.table, change.pk);
      const file = bases.get(key);
      if (file?.baseVersion !== change.baseVersion) return;
      const sent = change.op === 'upsert' ? change.row : null;
      if (!jsonEqual(file.row === null ? null : (JSON.parse(file.row) as unknown), sent)) return;
      const state = this.#stateAt(user, key, change.baseVersion);
      if (state === 'pruned') return;
      // Without a base row the file knows only that the row was at that version once (a
      // tombstone a hydration kept at the last version it knew alive, a delete's own version).
      // A live base is compared on the columns both know: a file of an older version, or a row
      // last committed before the server's schema gained a column, says nothing of the others;
      // nor does a base a file's migration gave the new columns' defaults (`compared`: the
      // columns whose bases are checked).
      const base = file.base;
      const matches =
        state !== undefined &&
        (base === null ||
          (!state.deleted &&
            state.row !== null &&
            rowsEqual(columnsInBoth(compared, change.table, state.row, base), state.row, base)));
      if (!matches) {
        problems.push(
          `${what}: change ${index} (${change.table} ${change.pk}) is based on v${change.baseVersion} ${file.base === null ? 'without a base row' : 'as a live row'}, which the server's current history ${state === undefined ? 'never had for that row' : state.deleted ? 'has as a tombstone' : 'has with other values'}: a foreign base`,
        );
      }
    });
    return problems;
  }

  /** The row's state at `version` in the user's bundles; `pruned` when they no longer tell. */
  #stateAt(
    user: UserModel,
    key: string,
    version: number,
  ): { deleted: boolean; row: Row | null } | undefined | 'pruned' {
    const find = (bundle: ModelBundle | undefined) =>
      bundle?.rows.find(
        (effect) => effect.rowVersion === version && rowKey(effect.table, effect.pk) === key,
      );
    const effect = find(user.bundles[version - 1]) ?? user.bundles.map(find).find(Boolean);
    if (effect === undefined) return version <= user.prunedThrough ? 'pruned' : undefined;
    return effect.op === 'delete'
      ? { deleted: true, row: null }
      : { deleted: false, row: effect.row };
  }

  #user(userId: string): UserModel {
    let user = this.#users.get(userId);
    if (!user) {
      user = { lastSeq: 0, prunedThrough: 0, bundles: [], sources: new Map() };
      this.#users.set(userId, user);
    }
    return user;
  }

  /** Indices of upserts with a value the schema refuses (length, not null). */
  #schemaErrors(changes: readonly Change[]): number[] {
    const out: number[] = [];
    changes.forEach((change, index) => {
      if (change.op !== 'upsert') return;
      const table = this.#schema.table(change.table);
      if (!table) {
        out.push(index);
        return;
      }
      for (const column of table.clientColumns) {
        if (column.isOwner || column.isPrimaryKey) continue;
        const value = change.row[column.name] ?? column.default ?? null;
        const tooLong =
          typeof value === 'string' &&
          column.maxLength !== undefined &&
          characterLength(value) > column.maxLength;
        if (tooLong || (value === null && column.notNull)) {
          out.push(index);
          return;
        }
      }
    });
    return out;
  }

  /** Indices of changes that would leave a reference dangling. */
  #referenceErrors(userId: string, changes: readonly Change[]): number[] {
    const inBundle = new Map(changes.map((c) => [rowKey(c.table, c.pk), c]));
    const errors = new Set<number>();
    changes.forEach((change, index) => {
      const table = this.#schema.requireTable(change.table);
      if (change.op === 'upsert') {
        for (const reference of table.references) {
          const value = change.row[reference.column];
          if (value === null || value === undefined) continue;
          const key = rowKey(reference.parentTable, value as PrimaryKey);
          const sibling = inBundle.get(key);
          const parent = this.#rows.get(key);
          const alive = sibling
            ? sibling.op === 'upsert'
            : parent !== undefined && !parent.deleted && parent.owner === userId;
          if (!alive) errors.add(index);
        }
        return;
      }
      const self = this.#rows.get(rowKey(change.table, change.pk));
      if (!self || self.deleted) return;
      for (const reference of table.referencedBy) {
        if (reference.onDelete !== 'restrict') continue;
        for (const child of this.#children(
          userId,
          reference.childTable,
          reference.column,
          change.pk,
        )) {
          const sibling = inBundle.get(rowKey(child.table, child.pk));
          const stays =
            !sibling || (sibling.op === 'upsert' && sibling.row[reference.column] === change.pk);
          if (stays) errors.add(index);
        }
      }
    });
    return [...errors].sort((a, b) => a - b);
  }

  /** Alive rows of `userId` in `table` whose `column` is `pk`. */
  #children(userId: string, table: string, column: string, pk: PrimaryKey): ModelRow[] {
    const out: ModelRow[] = [];
    for (const row of this.#rows.values()) {
      if (row.table === table && !row.deleted && row.owner === userId && row.row?.[column] === pk) {
        out.push(row);
      }
    }
    return out;
  }

  /**
   * The row effects of applying `ops` for `userId` on the current state: upserts as written
   * (missing columns default or null, the owner set), deletes of alive rows, and what the
   * references do to children (cascade deletes, set-null upserts), transitively.
   */
  #effectsOf(userId: string, ops: readonly BackendOp[]): PredictedEffect[] {
    const state = new Map<string, { alive: boolean; row: Row | null }>();
    const effects = new Map<string, PredictedEffect>();
    const current = (table: string, pk: PrimaryKey) => {
      const key = rowKey(table, pk);
      const staged = state.get(key);
      if (staged) return staged;
      const row = this.#rows.get(key);
      return { alive: row !== undefined && !row.deleted, row: row?.row ?? null };
    };
    const upsert = (table: Table, row: Row) => {
      const pk = row[table.primaryKey] as PrimaryKey;
      const key = rowKey(table.name, pk);
      state.set(key, { alive: true, row });
      effects.set(key, { table: table.name, pk, op: 'upsert', row: clientPart(table, row) });
    };
    const remove = (table: Table, pk: PrimaryKey) => {
      const key = rowKey(table.name, pk);
      const before = current(table.name, pk);
      if (!before.alive) return;
      state.set(key, { alive: false, row: null });
      effects.set(key, { table: table.name, pk, op: 'delete', row: null });
      for (const reference of table.referencedBy) {
        const child = this.#schema.requireTable(reference.childTable);
        for (const candidate of this.#children(userId, child.name, reference.column, pk)) {
          const now = current(child.name, candidate.pk);
          if (!now.alive || now.row?.[reference.column] !== pk) continue;
          if (reference.onDelete === 'cascade') remove(child, candidate.pk);
          else if (reference.onDelete === 'set null') {
            upsert(child, { ...now.row, [reference.column]: null });
          }
        }
      }
    };
    // Upserts first (parents before children), then deletes: the net effect is the same as the
    // server's relation order for a valid bundle.
    for (const op of ops) {
      if (op.op !== 'upsert') continue;
      const table = this.#schema.requireTable(op.table);
      // The column-level rule: a row the server has gets only the named columns written; a new
      // one is the row given, with defaults for what it leaves out.
      const before = current(table.name, op.row[table.primaryKey] as PrimaryKey);
      const named = new Set(op.columns ?? Object.keys(op.row));
      const full: Row = {};
      for (const column of table.columns) {
        if (column.serverDerived !== undefined) continue;
        const delta = op.deltas?.[column.name];
        full[column.name] = column.isOwner
          ? userId
          : before.alive && before.row !== null && !column.isPrimaryKey && !named.has(column.name)
            ? (before.row[column.name] ?? null)
            : before.alive && before.row !== null && delta !== undefined
              ? // A counter: the value the server has plus what the device added.
                counterOf(before.row[column.name]) + delta
              : (op.row[column.name] ?? column.default ?? null);
      }
      upsert(table, full);
    }
    for (const op of ops) {
      if (op.op === 'delete') remove(this.#schema.requireTable(op.table), op.pk);
    }
    return [...effects.values()];
  }

  #checkEffects(
    what: string,
    userId: string,
    predicted: readonly PredictedEffect[],
    actual: readonly RowEffect[],
    at: { now: number },
  ): string[] {
    const problems: string[] = [];
    const want = new Map(predicted.map((e) => [rowKey(e.table, e.pk), e]));
    const nowIso = new Date(at.now).toISOString();
    const seen = new Set<string>();
    for (const effect of actual) {
      const key = rowKey(effect.table, effect.pk);
      const expected = want.get(key);
      if (seen.has(key)) problems.push(`${what}: ${effect.table} ${effect.pk} appears twice`);
      seen.add(key);
      if (!expected) {
        problems.push(`${what}: unexpected effect ${effect.op} ${effect.table} ${effect.pk}`);
        continue;
      }
      if (expected.op !== effect.op) {
        problems.push(
          `${what}: ${effect.table} ${effect.pk} is a ${effect.op}, expected a ${expected.op}`,
        );
        continue;
      }
      // A row whose tombstone was purged starts anew: any owner, any version.
      const before = this.#stateOf(effect.table, effect.pk);
      if (before && effect.rowVersion <= before.version) {
        problems.push(
          `${what}: ${effect.table} ${effect.pk} got rowVersion ${effect.rowVersion}, not above ${before.version}`,
        );
      }
      if (effect.op === 'upsert') {
        const table = this.#schema.requireTable(effect.table);
        if (!jsonEqual(clientPart(table, effect.row), expected.row)) {
          problems.push(
            `${what}: ${effect.table} ${effect.pk} committed ${stableJson(clientPart(table, effect.row))}, expected ${stableJson(expected.row)}`,
          );
        }
        if (effect.row[table.owner] !== userId) {
          problems.push(
            `${what}: ${effect.table} ${effect.pk} has owner ${String(effect.row[table.owner])}`,
          );
        }
        for (const column of table.columns) {
          if (column.serverDerived === 'commitTime' && effect.row[column.name] !== nowIso) {
            problems.push(
              `${what}: ${effect.table}.${column.name} is ${String(effect.row[column.name])}, the commit time is ${nowIso}`,
            );
          }
        }
      }
    }
    for (const [key, effect] of want) {
      if (!seen.has(key))
        problems.push(`${what}: missing effect ${effect.op} ${effect.table} ${effect.pk}`);
    }
    return problems;
  }

  #record(userId: string, bundle: ModelBundle, step: number): void {
    const user = this.#user(userId);
    user.lastSeq = bundle.bundleSeq;
    user.bundles.push(bundle);
    for (const effect of bundle.rows) {
      const key = rowKey(effect.table, effect.pk);
      const before = this.#rows.get(key);
      if (effect.op === 'upsert' && before?.deleted) {
        this.#resurrections.push({
          userId,
          table: effect.table,
          pk: effect.pk,
          bundleSeq: bundle.bundleSeq,
          sourceId: bundle.sourceId,
          step,
          deletedAtStep: before.deletedAtStep,
          deletedBy: before.deletedBy,
          deletedIn: before.deletedIn,
          epoch: this.#epoch,
          ...(before.purged === true
            ? {
                purgedDeletes: (this.#history.get(key) ?? [])
                  .filter((h) => !h.alive)
                  .map((h) => h.step),
              }
            : {}),
        });
      }
      const history = this.#history.get(key) ?? [];
      history.push({ step, alive: effect.op === 'upsert' });
      this.#history.set(key, history);
      this.#rows.set(key, {
        table: effect.table,
        pk: effect.pk,
        owner: userId,
        version: effect.rowVersion,
        deleted: effect.op === 'delete',
        row: effect.op === 'upsert' ? effect.row : null,
        deletedAtStep: effect.op === 'delete' ? step : null,
        deletedBy: effect.op === 'delete' ? bundle.sourceId : null,
        deletedIn:
          effect.op === 'delete'
            ? { userId, bundleSeq: bundle.bundleSeq, epoch: this.#epoch }
            : null,
      });
    }
  }
}

/** A row as the server holds it (the last committed effect). */
export interface ModelRow {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly owner: string;
  readonly version: number;
  readonly deleted: boolean;
  /** The full row of the last upsert effect; null for a tombstone. */
  readonly row: Row | null;
  /** The step at which the row was deleted (null while alive). */
  readonly deletedAtStep: number | null;
  /** The source whose bundle deleted it (null: alive, or a backend write). */
  readonly deletedBy: string | null;
  /** The bundle that deleted it (null: alive). */
  readonly deletedIn: {
    readonly userId: string;
    readonly bundleSeq: number;
    readonly epoch: number;
  } | null;
  /** A tombstone the server purged with its owner's pruned history: it keeps no state of it. */
  readonly purged?: boolean;
}

/** A committed bundle as pulls must return it. */
export interface ModelBundle {
  readonly bundleSeq: number;
  readonly sourceId: string | null;
  readonly sourceBundleId: number | null;
  readonly rows: readonly RowEffect[];
  /** Its history token, as the server's answers showed it. */
  readonly token?: string | undefined;
}

/** What {@link ServerModel.backup} keeps. */
export interface ModelBackup {
  readonly rows: Map<string, ModelRow>;
  readonly users: Map<string, UserModel>;
}

/** A deleted row that came back. */
export interface Resurrection {
  readonly userId: string;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly bundleSeq: number;
  readonly sourceId: string | null;
  readonly step: number;
  readonly deletedAtStep: number | null;
  /** The source whose bundle had deleted it (null: a backend write). */
  readonly deletedBy: string | null;
  /** The bundle that deleted it (null: alive). */
  readonly deletedIn: {
    readonly userId: string;
    readonly bundleSeq: number;
    readonly epoch: number;
  } | null;
  /** The model's epoch when it came back (see {@link ServerModel.epoch}). */
  readonly epoch: number;
  /**
   * Its tombstone was purged with the history: the server could not see the last delete, and
   * took a re-creation on any earlier tombstone of the row (`baseDeleted`) for one on the last.
   * The steps at which the row was deleted, each.
   */
  readonly purgedDeletes?: readonly number[];
}

/** One push as the server received it. */
export interface PushCall {
  readonly userId: string;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  readonly changes: readonly Change[];
  /** The pull cursor of a `POST /v1/sync` (checked first). */
  readonly pullAfter?: number | undefined;
  /** Its history token (`afterToken`), when the client sent one. */
  readonly pullToken?: string | undefined;
  /** The push's bases point (`basesAt`), when the client sent one. */
  readonly basesAt?: { readonly bundleSeq: number; readonly token: string } | undefined;
  /**
   * The pushing device still follows a history the server lost to a restore: its bases come
   * from that history, and invariant i (its own commits as bases) does not apply until it has
   * caught up with the server's.
   */
  readonly diverged?: boolean | undefined;
  /**
   * The schema of a client that runs an older version than the server: the server answers it
   * in that version's shape (the committed rows the model is given are the server's own).
   */
  readonly view?: Schema | undefined;
}

/** A backend write's operation. */
export type BackendOp =
  | {
      readonly op: 'upsert';
      readonly table: string;
      readonly row: Row;
      /** The columns written to a row that exists (a push's `columns`); default: `row`'s. */
      readonly columns?: readonly string[] | undefined;
      /** What a push added to counters of a row that exists (its `deltas`). */
      readonly deltas?: Readonly<Record<string, number>> | undefined;
    }
  | { readonly op: 'delete'; readonly table: string; readonly pk: PrimaryKey };

/** A predicted row effect: the client columns and owner of an upsert, or a delete. */
export interface PredictedEffect {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly op: 'upsert' | 'delete';
  readonly row: Row | null;
}

interface PredictedConflict {
  readonly index: number;
  readonly serverVersion: number | null;
  readonly serverDeleted: boolean;
  readonly serverRow: Row | null;
  /** The row is alive and its current version was committed by the pushing source itself. */
  readonly ownVersion: boolean;
}

/** What the server must answer to a push. */
export type PushPrediction =
  | {
      readonly kind: 'rejected';
      readonly code:
        | 'history_pruned'
        | 'cursor_unknown'
        | 'bundle_gap'
        | 'stale_bundle'
        | 'bundle_mismatch'
        | 'validation_failed'
        | 'forbidden';
      readonly indices?: readonly number[];
      readonly lastCommitted?: number;
    }
  | { readonly kind: 'replay'; readonly bundle: ModelBundle }
  | { readonly kind: 'conflict'; readonly conflicts: readonly PredictedConflict[] }
  | {
      readonly kind: 'commit';
      readonly bundleSeq: number;
      readonly effects: readonly PredictedEffect[];
    };

/** The server's answer to a push, normalised from `/v1/push` and `/v1/sync`. */
export type ActualPush =
  | {
      readonly kind: 'committed';
      readonly bundleSeq: number;
      readonly rows: readonly RowEffect[];
      readonly token?: string | undefined;
    }
  | {
      readonly kind: 'conflict';
      readonly conflicts: readonly Conflict[];
      /** The head the server judged the conflicts on, when it named one. */
      readonly head?: { readonly bundleSeq: number; readonly token: string } | undefined;
    }
  | ActualError;

/** The server's answer to a pull. */
export type ActualPull =
  | {
      readonly kind: 'page';
      readonly bundles: readonly ModelBundle[];
      readonly stableBundleSeq: number;
      readonly hasMore: boolean;
    }
  | ActualError;

/** An error answer. */
export interface ActualError {
  readonly kind: 'error';
  readonly status: number;
  readonly code: string;
  readonly details: unknown;
}

/** One user's history in the model (exported for {@link ModelBackup} only). */
export interface UserModel {
  lastSeq: number;
  prunedThrough: number;
  readonly bundles: ModelBundle[];
  readonly sources: Map<string, SourceModel>;
}

/** What the server knows of one source (a client install) of a user. */
export interface SourceModel {
  readonly lastCommitted: number;
  /** `bundleDigest` of the changes that committed it: a resend replays only with the same. */
  readonly digest: string;
  readonly bundle: ModelBundle;
  /** Per row key: the version of the row that this source's own pushed changes last committed. */
  readonly own: ReadonlyMap<string, number>;
}

const bundleTexts = new WeakMap<ModelBundle, string>();

/** A bundle as text, for comparing answers (rows keep the key order of their zod schema). */
/** The columns of `table` that both rows carry. */
function columnsInBoth(schema: Schema, table: string, a: Row, b: Row) {
  return schema.requireTable(table).columns.filter((c) => c.name in a && c.name in b);
}

/**
 * `row` as a client that runs `view` gets it: only the columns its version knows, in the same
 * order, and those its version has that the row lacks (a row committed before the column was
 * added) with the column's default, as the server's projections give them. The row itself when
 * nothing changes, or without a view.
 */
export function projectRow(view: Schema | undefined, table: string, row: Row): Row;
export function projectRow(view: Schema | undefined, table: string, row: Row | null): Row | null;
export function projectRow(view: Schema | undefined, table: string, row: Row | null): Row | null {
  const known = view?.table(table);
  if (row === null || known === undefined) return row;
  const keys = Object.keys(row);
  const unknown = keys.some((name) => !known.column(name));
  const missing = known.columns.filter((c) => !Object.hasOwn(row, c.name));
  if (!unknown && missing.length === 0) return row;
  const out: Row = Object.fromEntries(Object.entries(row).filter(([name]) => known.column(name)));
  for (const column of missing) out[column.name] = column.default ?? null;
  return out;
}

/** A bundle's effects as a client that runs `view` gets them ({@link projectRow}). */
function projectBundle(view: Schema | undefined, bundle: ModelBundle): ModelBundle {
  if (view === undefined) return bundle;
  let changed = false;
  const rows = bundle.rows.map((e) => {
    if (e.op !== 'upsert') return e;
    const row = projectRow(view, e.table, e.row);
    if (row === e.row) return e;
    changed = true;
    return { ...e, row };
  });
  return changed ? { ...bundle, rows } : bundle;
}

function bundleText(bundle: ModelBundle): string {
  let text = bundleTexts.get(bundle);
  if (text === undefined) {
    text = JSON.stringify([bundle.bundleSeq, bundle.sourceId, bundle.sourceBundleId, bundle.rows]);
    bundleTexts.set(bundle, text);
  }
  return text;
}

/** A counter's value as a number (null counts as 0). */
function counterOf(value: unknown): number {
  return typeof value === 'number' ? value : 0;
}

/** The key of a row across tables. */
export function rowKey(table: string, pk: PrimaryKey): string {
  return `${table}\u0000${typeof pk}\u0000${String(pk)}`;
}

/** The columns a client writes, plus the owner (what a commit must reproduce exactly). */
function clientPart(table: Table, row: Row): Row {
  const out: Row = {};
  for (const column of table.columns) {
    if (column.serverDerived !== undefined) continue;
    const value = row[column.name];
    out[column.name] = value === undefined ? null : value;
  }
  return out;
}

function indicesOf(details: unknown, forbidden: boolean): number[] {
  const list = (details as Record<string, unknown> | undefined)?.[forbidden ? 'changes' : 'errors'];
  if (!Array.isArray(list)) return [];
  return [...new Set(list.map((e) => (e as { index: number }).index))];
}

function describe(actual: ActualPush | ActualPull): string {
  switch (actual.kind) {
    case 'error':
      return `${actual.status} ${actual.code}`;
    case 'committed':
      return `committed as bundleSeq ${actual.bundleSeq}`;
    case 'conflict':
      return `a conflict on ${actual.conflicts.length} change(s)`;
    case 'page':
      return `a page of ${actual.bundles.length} bundle(s)`;
  }
}

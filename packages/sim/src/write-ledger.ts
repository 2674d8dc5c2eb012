import type { Change, PrimaryKey, Row } from '@ferry/protocol';
import { jsonEqual } from './stable-json.js';
import { rowKey, type ActualPush, type PushCall, type ServerModel } from './server-model.js';

/** One row change of a local write, as the app made it. */
export interface WriteRecord {
  /** Global order of records (later writes have higher numbers). */
  readonly seq: number;
  readonly opId: number;
  readonly device: string;
  readonly sourceId: string;
  readonly userId: string;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly kind: 'insert' | 'update' | 'delete';
  /** The columns the write set (empty for a delete). */
  readonly values: Row;
  readonly step: number;
  /** Made by the local database's references (a cascade), not named by the app. */
  readonly implied: boolean;
  /** An increment: what it added to each counter (see `counterSums`). */
  readonly added?: Readonly<Record<string, number>>;
  /** The device whose file this write was copied from, with that file (see `inheritWrites`). */
  readonly inheritedFrom?: string;
  /**
   * `durable`: acknowledged, or found committed after a crash. `restored`: it was durable, then
   * the device's file was replaced by an older backup (it happened, and may have been pushed,
   * but the file no longer holds it).
   */
  status: 'pending' | 'durable' | 'failed' | 'unknown' | 'restored';
  /**
   * A `restored` write that began before the backup was taken but had not settled then (or came
   * after one that had not): the backup may hold it, and it may then cover earlier writes of its
   * row in the file (see `restoredAway`).
   */
  mayBeInBackup?: boolean;
  /**
   * Settled `failed` by a guess: a write its client crashed in, which left no evidence in the
   * file either way (an increment, or values changed again since). It may have committed.
   */
  guessed?: boolean;
  /** Settled by the simulator's reading of the file after its client crashed. */
  afterCrash?: boolean;
}

/** How the server answered a push, as far as each change is concerned. */
interface PushRecord {
  readonly sourceBundleId: number;
  readonly step: number;
  readonly outcome: 'committed' | 'conflict' | 'refused' | 'other';
  /** Changes by row key. */
  readonly changes: ReadonlyMap<string, { readonly index: number; readonly change: Change }>;
  /** Indices the answer names (conflicting, refused). */
  readonly named: ReadonlySet<number>;
  /** The step at which the device froze this bundle, when its log said so. */
  readonly frozenStep: number | undefined;
}

/** Something the app decided or saw about a row of a device. */
interface RowEvent {
  readonly device: string;
  readonly key: string;
  readonly step: number;
  readonly kind:
    | 'seen-dead'
    | 'seen-conflict'
    | 'resolve-server'
    | 'resolve-client'
    | 'resolve-row'
    | 'discard'
    | 'retry';
}

/**
 * Everything needed to prove that no acknowledged write was lost (invariant b) and that no
 * deleted row came back without an explicit re-insert (invariant g): every local write, every
 * push the server answered and how, what the app saw and decided.
 *
 * A write's column value is accounted for when one of these holds:
 * 1. a later push of the same device carried it and the server committed it, or answered
 *    with a conflict or a refusal naming that row (the resolver or the app then decides, as
 *    configured);
 * 2. a later write of the same device changed that column, or deleted the row (coalescing);
 * 3. the row stood as a dead letter or manual conflict on that device afterwards, or the app
 *    resolved or discarded it;
 * 4. for a delete: also when the row was not alive on the user's server at some moment after it,
 *    or when it deletes the device's own insert that no push ever committed.
 */
export class WriteLedger {
  readonly #writes: WriteRecord[] = [];
  /** By device: a device's pushes, under whatever source id it had (rotations, copied files). */
  readonly #pushes = new Map<string, PushRecord[]>();
  /** Which device's push committed each bundle, by server epoch, user and `bundleSeq`. */
  readonly #committedBy = new Map<string, string>();
  readonly #events = new Map<string, RowEvent[]>();
  readonly #backendUpserts = new Set<string>();
  /** The step each bundle was frozen at, by source id and source bundle id. */
  readonly #frozenAt = new Map<string, number>();
  #seq = 0;

  /** Records the row changes of a write that is about to run (pending until settled). */
  begin(
    opId: number,
    device: { name: string; sourceId: string; userId: string },
    step: number,
    changes: readonly {
      kind: 'insert' | 'update' | 'delete';
      table: string;
      pk: PrimaryKey;
      values: Row;
      implied: boolean;
      added?: Readonly<Record<string, number>>;
    }[],
  ): void {
    for (const change of changes) {
      this.#writes.push({
        ...(change.added ? { added: change.added } : {}),
        seq: this.#seq++,
        opId,
        device: device.name,
        sourceId: device.sourceId,
        userId: device.userId,
        table: change.table,
        pk: change.pk,
        kind: change.kind,
        values: change.values,
        step,
        implied: change.implied,
        status: 'pending',
      });
    }
  }

  /**
   * The write resolved (`durable`) or threw (`failed`, rolled back); `guessed`: taken for failed
   * after a crash for want of evidence (see {@link WriteRecord.guessed}).
   */
  settle(opId: number, status: 'durable' | 'failed', guessed = false): void {
    // Only a write still open: one a restore of its file already took away stays that way. A
    // write found failed after its client crashed that then resolves committed (it committed
    // just before the crash, and the app was told so) is durable after all: what it set is owed
    // to the server like any acknowledged write.
    for (const write of this.#writes) {
      if (write.opId !== opId) continue;
      if (write.status === 'pending' || write.status === 'unknown') {
        if (write.status === 'unknown') write.afterCrash = true;
        write.status = status;
        if (guessed) write.guessed = true;
      } else if (write.afterCrash === true && write.status === 'failed' && status === 'durable') {
        write.status = 'durable';
        write.guessed = false;
      }
    }
  }

  /** Pending writes of a device whose client crashed: committed or not, to be found out. */
  orphaned(device: string): WriteRecord[] {
    const out: WriteRecord[] = [];
    for (const write of this.#writes) {
      if (write.device === device && write.status === 'pending') {
        write.status = 'unknown';
        out.push(write);
      }
    }
    return out;
  }

  /** Committed writes of a device on a row, made after record `seq`. */
  laterDurable(device: string, table: string, pk: PrimaryKey, seq: number): WriteRecord[] {
    return this.#writes.filter(
      (w) =>
        w.device === device &&
        w.seq > seq &&
        w.status === 'durable' &&
        w.table === table &&
        w.pk === pk,
    );
  }

  /**
   * Whether the app, at or after `step`, made a decision that rewrote the device's local row
   * (discarded its dead letter, or resolved its conflict with the server's row or a row of its
   * own): the row's values then no longer tell whether a write made before it committed.
   */
  rewrittenByApp(device: string, table: string, pk: PrimaryKey, step: number): boolean {
    return (this.#events.get(`${device}\u0000${rowKey(table, pk)}`) ?? []).some(
      (e) =>
        e.step >= step &&
        (e.kind === 'discard' || e.kind === 'resolve-server' || e.kind === 'resolve-row'),
    );
  }

  /**
   * A mark for a backup of the device's file taken now: the `seq` from which its writes may be
   * missing from the copy (the first one still running, else the next one to come).
   */
  backupMark(device: string): number {
    const running = this.#writes.filter(
      (w) => w.device === device && (w.status === 'pending' || w.status === 'unknown'),
    );
    return running.length > 0 ? Math.min(...running.map((w) => w.seq)) : this.#seq;
  }

  /**
   * The device's file was replaced by a backup taken at `backupStep`, when the ledger was at
   * `fromSeq`: its writes from then on are gone from it, like writes rolled back (those it had
   * pushed are on the server all the same, and a later one no longer covers an earlier one),
   * except that one begun before the backup and settled after it may be in the backup too.
   */
  restoredAway(device: string, fromSeq: number, backupStep: number): void {
    for (const write of this.#writes) {
      if (write.device === device && write.seq >= fromSeq) {
        const durable = write.status === 'durable' || write.status === 'restored';
        write.status = durable ? 'restored' : 'failed';
        write.mayBeInBackup = durable && write.step <= backupStep;
      }
    }
  }

  /**
   * Device `to` starts from a copy of `from`'s file: the writes in that file are its own too (it
   * will push them, or meet them as conflicts). A write that was still running when the file was
   * copied may or may not be in the copy: it counts as having happened there, not as one to
   * account for.
   */
  inheritWrites(to: string, from: string): void {
    const inherited = this.#writes
      .filter((w) => w.device === from && w.status !== 'failed')
      .map((w) => ({
        ...w,
        seq: this.#seq++,
        device: to,
        inheritedFrom: w.inheritedFrom ?? from,
        status: w.status === 'durable' ? ('durable' as const) : ('restored' as const),
        // One still running (or cut by a crash) may be in the copy, and then covers earlier ones.
        mayBeInBackup: w.status === 'restored' ? w.mayBeInBackup === true : w.status !== 'durable',
      }));
    this.#writes.push(...inherited);
    // What the app decided about rows of the copied file (a conflict resolved for its own row,
    // a dead letter retried) holds in the copy too: the copy pushes what came of it.
    for (const [key, events] of [...this.#events]) {
      if (!key.startsWith(`${from}\u0000`)) continue;
      const rowKeyPart = key.slice(from.length + 1);
      const copied = events.map((e) => ({ ...e, device: to }));
      const target = `${to}\u0000${rowKeyPart}`;
      this.#events.set(target, [...(this.#events.get(target) ?? []), ...copied]);
    }
  }

  /** Every write of an operation. */
  writesOf(opId: number): WriteRecord[] {
    return this.#writes.filter((w) => w.opId === opId);
  }

  /** How many durable writes there are. */
  get durableCount(): number {
    return this.#writes.filter((w) => w.status === 'durable').length;
  }

  /** A device froze bundle `sourceBundleId` of `sourceId` at `step` (from the rows committed then). */
  recordFreeze(sourceId: string, sourceBundleId: number, step: number): void {
    this.#frozenAt.set(`${sourceId}\u0000${sourceBundleId}`, step);
  }

  /**
   * Whether the server received a push of `device` whose bundle was frozen after `step` and
   * whose change of the row satisfies `carries`: what it carries was committed in the device's
   * file after `step`.
   */
  pushedAfterFreezeSince(
    device: string,
    table: string,
    pk: PrimaryKey,
    step: number,
    carries: (change: Change) => boolean,
  ): boolean {
    const key = rowKey(table, pk);
    return (this.#pushes.get(device) ?? []).some((push) => {
      const entry = push.changes.get(key);
      return (
        push.frozenStep !== undefined &&
        push.frozenStep > step &&
        entry !== undefined &&
        carries(entry.change)
      );
    });
  }

  /** A push of `device` the server answered (`actual`), as far as each change is concerned. */
  recordPush(
    device: string,
    call: PushCall,
    step: number,
    outcome: PushRecord['outcome'],
    named: ReadonlySet<number>,
    actual: ActualPush,
    epoch = 0,
  ): void {
    const byRow = new Map<string, { index: number; change: Change }>();
    call.changes.forEach((change, index) =>
      byRow.set(rowKey(change.table, change.pk), { index, change }),
    );
    const list = this.#pushes.get(device) ?? [];
    const frozenStep = this.#frozenAt.get(`${call.sourceId}\u0000${call.sourceBundleId}`);
    list.push({
      sourceBundleId: call.sourceBundleId,
      step,
      outcome,
      changes: byRow,
      named,
      frozenStep,
    });
    this.#pushes.set(device, list);
    if (actual.kind === 'committed') {
      this.#committedBy.set(`${epoch}\u0000${call.userId}\u0000${actual.bundleSeq}`, device);
    }
  }

  /** The device whose push committed bundle `bundleSeq` of `userId` (in server epoch `epoch`). */
  committedBy(userId: string, bundleSeq: number, epoch = 0): string | undefined {
    return this.#committedBy.get(`${epoch}\u0000${userId}\u0000${bundleSeq}`);
  }

  recordEvent(
    device: string,
    table: string,
    pk: PrimaryKey,
    step: number,
    kind: RowEvent['kind'],
  ): void {
    const key = rowKey(table, pk);
    const list = this.#events.get(`${device}\u0000${key}`) ?? [];
    if (kind.startsWith('seen-') && list.some((e) => e.kind === kind)) return;
    list.push({ device, key, step, kind });
    this.#events.set(`${device}\u0000${key}`, list);
  }

  /** A backend write upserted this row at this step (an explicit re-creation if it was deleted). */
  recordBackendUpsert(table: string, pk: PrimaryKey, step: number): void {
    this.#backendUpserts.add(`${rowKey(table, pk)}\u0000${step}`);
  }

  /** The devices that started from a copy of the file `write` was in (see `inheritWrites`). */
  #copiesOf(write: WriteRecord): string[] {
    if (write.inheritedFrom !== undefined) return [];
    return this.#writes
      .filter(
        (w) =>
          w.inheritedFrom === write.device &&
          w.opId === write.opId &&
          w.table === write.table &&
          w.pk === write.pk,
      )
      .map((w) => w.device);
  }

  /** Invariant b: every acknowledged write is accounted for. */
  lostWrites(model: ServerModel): string[] {
    const problems: string[] = [];
    for (const write of this.#writes) {
      if (write.status !== 'durable') continue;
      const key = rowKey(write.table, write.pk);
      // A later write covers this one when it is in the file: durable, or perhaps in the
      // backup the file was restored from.
      const later = this.#writes.filter(
        (w) =>
          (w.status === 'durable' || (w.status === 'restored' && w.mayBeInBackup === true)) &&
          w.device === write.device &&
          w.seq > write.seq &&
          w.table === write.table &&
          w.pk === write.pk,
      );
      // A write copied with a file is accounted for by either install's pushes and decisions:
      // the copy's, and the original's (whose bundle in flight the copy may push first, the
      // original then acknowledging it when it pulls it).
      const devices = [
        write.device,
        ...(write.inheritedFrom ? [write.inheritedFrom] : []),
        ...this.#copiesOf(write),
      ];
      const events = devices
        .flatMap((d) => this.#events.get(`${d}\u0000${key}`) ?? [])
        .filter((e) => e.step >= write.step);
      if (events.length > 0) continue;
      const pushes = devices
        .flatMap((d) => this.#pushes.get(d) ?? [])
        .filter((p) => p.step > write.step);
      const answered = (carries: (change: Change) => boolean) =>
        pushes.some((push) => {
          const entry = push.changes.get(key);
          if (!entry || !carries(entry.change)) return false;
          if (push.outcome === 'committed') return true;
          return (
            (push.outcome === 'conflict' || push.outcome === 'refused') &&
            push.named.has(entry.index)
          );
        });
      if (write.kind === 'delete') {
        if (later.length > 0) continue;
        // The delete's intent held when the row was not alive on the user's server at some
        // moment after it (never pushed, or deleted by someone else too).
        if (model.goneSince(write.userId, write.table, write.pk, write.step)) continue;
        // It cancels the device's own insert that no push ever committed (a row only it had:
        // one refused, dead-lettered and retried, say, is still only its own).
        const cancels = this.#writes.some(
          (w) =>
            w.device === write.device &&
            w.status === 'durable' &&
            w.kind === 'insert' &&
            w.seq < write.seq &&
            w.table === write.table &&
            w.pk === write.pk &&
            !pushes.some((p) => p.changes.has(key)) &&
            !(this.#pushes.get(write.device) ?? []).some(
              (p) => p.step > w.step && p.outcome === 'committed' && p.changes.has(key),
            ),
        );
        if (cancels) continue;
        if (answered((c) => c.op === 'delete')) continue;
        problems.push(
          `${write.device}: delete of ${write.table} ${write.pk} (step ${write.step}) never reached the server and is in no dead letter or conflict`,
        );
        continue;
      }
      for (const [column, value] of Object.entries(write.values)) {
        if (later.some((w) => w.kind === 'delete' || column in w.values)) continue;
        // A counter is carried by any later upsert of its row: the value pushed is the file's,
        // which rebases move, and increments that cancel out push no delta. Whether every
        // increment arrived is the counter-sum check's (`counterSums`).
        const counter = model.schema.table(write.table)?.column(column)?.merge === 'counter';
        const carries = (c: Change) =>
          c.op === 'upsert' && (counter || jsonEqual(c.row[column] ?? null, value));
        if (answered(carries)) continue;
        problems.push(
          `${write.device}: ${write.kind} of ${write.table} ${write.pk} set ${column} = ${JSON.stringify(value)} (step ${write.step}); no push carried it to the server, and it is in no dead letter or conflict`,
        );
      }
    }
    return problems;
  }

  /**
   * Invariant m, end to end: a counter ends at the value its row was inserted with plus every
   * increment the apps made, once each. Checked on rows where nothing else can have moved it:
   * alive on the server, inserted once by a device and never deleted, every write of them
   * settled (none lost to a crash or a restore, none whose fate after a crash was a guess),
   * never set by a backend write or by a write that
   * is not an increment, never a dead letter or conflict the app saw, and, where the table's
   * policy drops local increments in a conflict (`keepsIncrements` false: server-wins), never in
   * a conflict.
   */
  counterSums(
    model: ServerModel,
    keepsIncrements: (table: string) => boolean,
  ): { problems: string[]; summed: number } {
    const problems: string[] = [];
    let summed = 0;
    const writes = new Map<string, WriteRecord[]>();
    for (const write of this.#writes) {
      const key = rowKey(write.table, write.pk);
      writes.set(key, [...(writes.get(key) ?? []), write]);
    }
    const events = new Set([...this.#events.values()].flatMap((list) => list.map((e) => e.key)));
    // Rows a push met a conflict on: where a policy drops local increments, they may be gone.
    const conflicted = new Set<string>();
    for (const push of [...this.#pushes.values()].flat()) {
      if (push.outcome !== 'conflict') continue;
      for (const [key, entry] of push.changes) if (push.named.has(entry.index)) conflicted.add(key);
    }
    const backend = new Set(
      [...this.#backendUpserts].map((k) => k.slice(0, k.lastIndexOf('\u0000'))),
    );
    for (const row of model.allRows()) {
      if (row.deleted || row.row === null) continue;
      const table = model.schema.requireTable(row.table);
      const counters = table.columns.filter((c) => c.merge === 'counter');
      const key = rowKey(row.table, row.pk);
      if (!keepsIncrements(row.table) && conflicted.has(key)) continue;
      const mine = writes.get(key) ?? [];
      if (counters.length === 0 || events.has(key) || backend.has(key)) continue;
      // A write whose fate after a crash was a guess (an increment leaves no evidence in the
      // file) may have added to the counter or not.
      if (mine.some((w) => (w.status !== 'durable' && w.status !== 'failed') || w.guessed)) {
        continue;
      }
      const durable = mine.filter((w) => w.status === 'durable');
      const inserts = durable.filter((w) => w.kind === 'insert');
      if (inserts.length !== 1 || durable.some((w) => w.kind === 'delete')) continue;
      for (const column of counters) {
        const name = column.name;
        const updates = durable.filter((w) => w.kind === 'update' && name in w.values);
        if (updates.some((w) => w.added?.[name] === undefined)) continue;
        const inserted = inserts[0]!.values[name] ?? column.default ?? 0;
        const first = typeof inserted === 'number' ? inserted : 0;
        const added = updates.reduce((sum, w) => sum + w.added![name]!, 0);
        const want = first + added;
        summed++;
        if (row.row[name] !== want) {
          problems.push(
            `${row.table} ${String(row.pk)}.${name} ends at ${JSON.stringify(row.row[name])} on the server; its insert set ${first} and the apps added ${added} in ${updates.length} increments (${want}): a counter's increment lost or applied twice`,
          );
        }
      }
    }
    return { problems, summed };
  }

  /** Invariant g: a deleted row comes back only through an explicit re-insert. */
  resurrections(
    model: ServerModel,
    rebasesDeletes: (device: string, table: string) => boolean,
  ): string[] {
    const problems: string[] = [];
    for (const r of model.resurrections) {
      const key = rowKey(r.table, r.pk);
      const since = r.deletedAtStep ?? 0;
      if (r.sourceId === null) {
        if (this.#backendUpserts.has(`${key}\u0000${r.step}`)) continue;
        problems.push(
          `bundle ${r.bundleSeq} of ${r.userId} re-created ${r.table} ${r.pk} without a backend write of it`,
        );
        continue;
      }
      const device = this.committedBy(r.userId, r.bundleSeq, r.epoch);
      if (device === undefined) {
        problems.push(`bundle ${r.bundleSeq} re-created ${r.table} ${r.pk} from an unknown source`);
        continue;
      }
      // An explicit insert after the delete: after it was committed, or, when the device's own
      // delete was what the server committed, after that delete in the device's own order.
      const mine = this.#writes.filter(
        (w) =>
          w.device === device &&
          (w.status === 'durable' || w.status === 'restored') &&
          w.table === r.table &&
          w.pk === r.pk,
      );
      const ownDelete =
        r.deletedIn !== null &&
        this.committedBy(r.deletedIn.userId, r.deletedIn.bundleSeq, r.deletedIn.epoch) === device
          ? mine.filter((w) => w.kind === 'delete' && w.step <= since).at(-1)
          : undefined;
      // A row of another user, deleted and its tombstone purged, leaves its key free: a device's
      // insert of that key (refused while the other user's row held it) makes a row of its own
      // user, which no device of the deleted row's user ever sees. Its insert may be older.
      const anotherUsers = r.deletedIn !== null && r.deletedIn.userId !== r.userId;
      // Over a purged tombstone, a re-insert made after any delete of the row re-creates it: the
      // server no longer knows whether the row lived and died again since (protocol.md).
      const afterAPurgedDelete = (w: WriteRecord) =>
        r.purgedDeletes?.some((step) => w.step > step) === true;
      const inserted = mine.some(
        (w) =>
          w.kind === 'insert' &&
          (anotherUsers ||
            afterAPurgedDelete(w) ||
            (ownDelete ? w.seq > ownDelete.seq : w.step > since)),
      );
      const decided = (this.#events.get(`${device}\u0000${key}`) ?? []).some(
        (e) =>
          e.step > since &&
          (e.kind === 'resolve-client' || e.kind === 'resolve-row' || e.kind === 'retry'),
      );
      const byPolicy =
        rebasesDeletes(device, r.table) &&
        (this.#pushes.get(device) ?? []).some((p) => {
          const entry = p.changes.get(key);
          return (
            p.step > since &&
            p.outcome === 'conflict' &&
            entry !== undefined &&
            p.named.has(entry.index)
          );
        });
      if (inserted || decided || byPolicy) continue;
      problems.push(
        `${device}: bundle ${r.bundleSeq} of ${r.userId} re-created ${r.table} ${r.pk} (deleted at step ${since}) without an explicit re-insert`,
      );
    }
    return problems;
  }
}

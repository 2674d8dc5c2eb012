import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { Change } from '@ferry/protocol';
import { ServerModel } from './server-model.js';
import { WriteLedger } from './write-ledger.js';

const device = { name: 'd1', sourceId: 'source-1', userId: 'alice' };
const L1 = 'a0000000-0000-4000-8000-000000000001';
const upsert = (name: string): Change => ({
  table: 'lists',
  pk: L1,
  op: 'upsert',
  baseVersion: null,
  row: { id: L1, name, created_at: null },
});

/** A push of d1's source, answered as `outcome` (a commit as bundle 1). */
function push(
  ledger: WriteLedger,
  changes: Change[],
  step: number,
  outcome: 'committed' | 'conflict' | 'refused' | 'other',
  named: Set<number>,
  pushDevice = 'd1',
): void {
  const call = { userId: 'alice', sourceId: 'source-1', sourceBundleId: 1, changes };
  const actual =
    outcome === 'committed'
      ? ({ kind: 'committed', bundleSeq: 1, rows: [] } as const)
      : ({ kind: 'error', status: 409, code: outcome, details: undefined } as const);
  ledger.recordPush(pushDevice, call, step, outcome, named, actual);
}

function ledgerWithWrites(...names: string[]): WriteLedger {
  const ledger = new WriteLedger();
  names.forEach((name, i) => {
    ledger.begin(i + 1, device, 10 * (i + 1), [
      {
        kind: i === 0 ? 'insert' : 'update',
        table: 'lists',
        pk: L1,
        values: { name },
        implied: false,
      },
    ]);
    ledger.settle(i + 1, 'durable');
  });
  return ledger;
}

describe('the write ledger', () => {
  const model = new ServerModel(todoSchema);

  it('reports an acknowledged value that no push carried', () => {
    const ledger = ledgerWithWrites('a');
    expect(ledger.lostWrites(model)).toHaveLength(1);
  });

  it('accounts for a value a committed push carried, or a conflict or refusal named', () => {
    for (const outcome of ['committed', 'conflict', 'refused'] as const) {
      const ledger = ledgerWithWrites('a');
      push(ledger, [upsert('a')], 11, outcome, new Set([0]));
      expect(ledger.lostWrites(model), outcome).toEqual([]);
    }
  });

  it('does not count a push that carried another value, or that failed for another reason', () => {
    const ledger = ledgerWithWrites('a');
    push(ledger, [upsert('b')], 11, 'committed', new Set());
    push(ledger, [upsert('a')], 12, 'other', new Set());
    expect(ledger.lostWrites(model)).toHaveLength(1);
  });

  it('lets a later write of the same column supersede an earlier one (coalescing)', () => {
    const ledger = ledgerWithWrites('a', 'b');
    push(ledger, [upsert('b')], 31, 'committed', new Set());
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('counts the pushes of the device that wrote, whatever source id they went under', () => {
    const ledger = ledgerWithWrites('a');
    push(ledger, [upsert('a')], 11, 'committed', new Set(), 'd2');
    expect(ledger.lostWrites(model)).toHaveLength(1);
    push(ledger, [upsert('a')], 12, 'committed', new Set(), 'd1');
    expect(ledger.lostWrites(model)).toEqual([]);
    expect(ledger.committedBy('alice', 1)).toBe('d1');
  });

  it('accounts for a write copied with its file by the pushes of either install', () => {
    const ledger = ledgerWithWrites('a');
    ledger.inheritWrites('d2', 'd1');
    push(ledger, [upsert('a')], 11, 'committed', new Set(), 'd3');
    expect(ledger.lostWrites(model)).toHaveLength(2);
    // The copy pushes the bundle both files hold; the original acknowledges it when it pulls.
    push(ledger, [upsert('a')], 12, 'committed', new Set(), 'd2');
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('lets a write that was still running when the file was backed up cover an earlier one, after a restore', () => {
    const ledger = ledgerWithWrites('a');
    ledger.begin(2, device, 20, [
      { kind: 'update', table: 'lists', pk: L1, values: { name: 'b' }, implied: false },
    ]);
    const mark = ledger.backupMark('d1');
    ledger.settle(2, 'durable');
    // Restored from the backup of step 25: 'b' may be in it, and a push carries it.
    ledger.restoredAway('d1', mark, 25);
    push(ledger, [upsert('b')], 40, 'committed', new Set());
    expect(ledger.lostWrites(model)).toEqual([]);
    // Restored from a backup taken before 'b' began: 'a' is what the file holds, to be pushed.
    const again = ledgerWithWrites('a');
    again.begin(2, device, 20, [
      { kind: 'update', table: 'lists', pk: L1, values: { name: 'b' }, implied: false },
    ]);
    const early = again.backupMark('d1');
    again.settle(2, 'durable');
    again.restoredAway('d1', early, 15);
    push(again, [upsert('b')], 40, 'committed', new Set());
    expect(again.lostWrites(model)).toHaveLength(1);
  });

  it('lets a write that was still running when the file was copied cover an earlier one in the copy', () => {
    const ledger = ledgerWithWrites('a');
    ledger.begin(2, device, 20, [
      { kind: 'update', table: 'lists', pk: L1, values: { name: 'b' }, implied: false },
    ]);
    ledger.inheritWrites('d2', 'd1');
    ledger.settle(2, 'durable');
    // The copy's push carries 'b' (the write was in the copy); the original pushes it too.
    push(ledger, [upsert('b')], 40, 'committed', new Set(), 'd2');
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('lets a copy inherit what the app decided about a row before the file was copied', () => {
    const ledger = ledgerWithWrites('a');
    ledger.recordEvent('d1', 'lists', L1, 15, 'resolve-row');
    expect(ledger.rewrittenByApp('d2', 'lists', L1, 0)).toBe(false);
    ledger.inheritWrites('d2', 'd1');
    expect(ledger.rewrittenByApp('d2', 'lists', L1, 0)).toBe(true);
  });

  it('accounts for a write the app saw as a dead letter or a conflict', () => {
    const ledger = ledgerWithWrites('a');
    ledger.recordEvent('d1', 'lists', L1, 20, 'seen-dead');
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('takes a write found failed after its client crashed for acknowledged when it then resolves committed', () => {
    const ledger = new WriteLedger();
    ledger.begin(1, device, 10, [
      { kind: 'insert', table: 'lists', pk: L1, values: { name: 'a' }, implied: false },
    ]);
    ledger.orphaned('d1');
    // The file showed nothing either way: taken for not committed, as a guess.
    ledger.settle(1, 'failed', true);
    expect(ledger.lostWrites(model)).toEqual([]);
    // The app was then told it committed: it is owed to the server like any acknowledged write.
    ledger.settle(1, 'durable');
    expect(ledger.lostWrites(model)).toHaveLength(1);
    // Not so a write that failed by itself (it threw: rolled back).
    const threw = new WriteLedger();
    threw.begin(1, device, 10, [
      { kind: 'insert', table: 'lists', pk: L1, values: { name: 'a' }, implied: false },
    ]);
    threw.settle(1, 'failed');
    threw.settle(1, 'durable');
    expect(threw.lostWrites(model)).toEqual([]);
  });

  it('ignores writes that were not acknowledged', () => {
    const ledger = new WriteLedger();
    ledger.begin(1, device, 1, [
      { kind: 'insert', table: 'lists', pk: L1, values: { name: 'a' }, implied: false },
    ]);
    ledger.settle(1, 'failed');
    expect(ledger.lostWrites(model)).toEqual([]);
  });
  describe('evidence that a write cut by a crash had committed', () => {
    const carriesA = (c: Change) => c.op === 'upsert' && c.row.name === 'a';

    it('is a push of a bundle frozen after the write began that carries its values', () => {
      const ledger = new WriteLedger();
      ledger.recordFreeze('source-1', 1, 11);
      push(ledger, [upsert('a')], 12, 'conflict', new Set([0]));
      expect(ledger.pushedAfterFreezeSince('d1', 'lists', L1, 10, carriesA)).toBe(true);
    });

    it('is not a push of a bundle frozen before the write began, or at the same step', () => {
      for (const frozenAt of [9, 10]) {
        const ledger = new WriteLedger();
        ledger.recordFreeze('source-1', 1, frozenAt);
        push(ledger, [upsert('a')], 12, 'committed', new Set());
        expect(ledger.pushedAfterFreezeSince('d1', 'lists', L1, 10, carriesA), `${frozenAt}`).toBe(
          false,
        );
      }
    });

    it('is not a push whose freeze the device never reported, or that carried other values', () => {
      const unreported = new WriteLedger();
      push(unreported, [upsert('a')], 12, 'committed', new Set());
      expect(unreported.pushedAfterFreezeSince('d1', 'lists', L1, 10, carriesA)).toBe(false);
      const other = new WriteLedger();
      other.recordFreeze('source-1', 1, 11);
      push(other, [upsert('b')], 12, 'committed', new Set());
      expect(other.pushedAfterFreezeSince('d1', 'lists', L1, 10, carriesA)).toBe(false);
    });

    it('is not a push of another device', () => {
      const ledger = new WriteLedger();
      ledger.recordFreeze('source-1', 1, 11);
      push(ledger, [upsert('a')], 12, 'committed', new Set(), 'd2');
      expect(ledger.pushedAfterFreezeSince('d1', 'lists', L1, 10, carriesA)).toBe(false);
    });
  });
});

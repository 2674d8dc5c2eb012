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
      ledger.recordPush('source-1', 1, [upsert('a')], 11, outcome, new Set([0]));
      expect(ledger.lostWrites(model), outcome).toEqual([]);
    }
  });

  it('does not count a push that carried another value, or that failed for another reason', () => {
    const ledger = ledgerWithWrites('a');
    ledger.recordPush('source-1', 1, [upsert('b')], 11, 'committed', new Set());
    ledger.recordPush('source-1', 1, [upsert('a')], 12, 'other', new Set());
    expect(ledger.lostWrites(model)).toHaveLength(1);
  });

  it('lets a later write of the same column supersede an earlier one (coalescing)', () => {
    const ledger = ledgerWithWrites('a', 'b');
    ledger.recordPush('source-1', 1, [upsert('b')], 31, 'committed', new Set());
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('accounts for a write the app saw as a dead letter or a conflict', () => {
    const ledger = ledgerWithWrites('a');
    ledger.recordEvent('d1', 'lists', L1, 20, 'seen-dead');
    expect(ledger.lostWrites(model)).toEqual([]);
  });

  it('ignores writes that were not acknowledged', () => {
    const ledger = new WriteLedger();
    ledger.begin(1, device, 1, [
      { kind: 'insert', table: 'lists', pk: L1, values: { name: 'a' }, implied: false },
    ]);
    ledger.settle(1, 'failed');
    expect(ledger.lostWrites(model)).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { BUILTIN_RESOLVERS, defineSchema, type Conflict, type Row } from '@ferry/protocol';
import type { SettledRowFacts } from '../apply/settled-row.js';
import type { FrozenChange, PendingEntry } from '../local/metadata.js';
import { UNPINNED, pinnedTo } from '../local/pending-pin.js';
import { createTableCodec } from '../local/table-codec.js';
import { createSeededRandom } from '../scheduler/seeded-random.js';
import { decideConflict, type ConflictCase } from './decide-conflict.js';
import type { TableResolver } from './resolver-lookup.js';

const schema = defineSchema({
  tables: {
    todos: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        title: { type: 'text' },
        note: { type: 'text', nullable: true },
      },
    },
  },
});
const codec = createTableCodec(schema.requireTable('todos'));

const base: Row = { id: 't1', owner_id: 'alice', title: 'milk', note: null };
const change: FrozenChange = {
  ord: 1,
  tbl: 'todos',
  pk: 't1',
  letter: 'U',
  op: 'upsert',
  baseVersion: 3,
  base,
  row: { ...base, title: 'oat milk' },
  firstGroup: 1,
  lastGroup: 1,
  firstAt: 100,
  conflicts: 0,
};
const serverRow: Row = { ...base, note: 'from the server' };
const conflict: Conflict = {
  index: 0,
  table: 'todos',
  pk: 't1',
  op: 'upsert',
  baseVersion: 3,
  serverVersion: 5,
  serverDeleted: false,
  serverRow,
};
const noFacts: SettledRowFacts = {
  serverState: { version: 3, deleted: false, base },
  pending: undefined,
  current: null,
};
const stacked: PendingEntry = {
  tbl: 'todos',
  pk: 't1',
  op: 'U',
  firstGroup: 2,
  lastGroup: 2,
  firstAt: 200,
  ...UNPINNED,
};
const policy = (name: keyof typeof BUILTIN_RESOLVERS): TableResolver => ({
  resolver: BUILTIN_RESOLVERS[name],
  rule: name,
});

function decide(overrides: Partial<ConflictCase>) {
  return decideConflict({
    codec,
    change,
    conflict,
    facts: noFacts,
    resolver: policy('field-merge'),
    maxAttempts: 3,
    sourceBundleId: 7,
    at: 1_000,
    ...overrides,
  });
}

describe('decideConflict', () => {
  it('adopting the server drops the change and returns the row to its server state', () => {
    const decision = decide({ resolver: policy('server-wins') });
    expect(decision.report).toEqual({ table: 'todos', pk: 't1', outcome: 'adopt-server' });
    expect(decision.frozen).toEqual({ kind: 'drop' });
    expect(decision.localRow).toEqual({ kind: 'write', row: base });
    expect(decision.pending).toBeNull();
    expect(decision.manual).toBeNull();
    expect(decision.lost).toEqual([
      expect.objectContaining({ loser: 'local', columns: ['title'], rule: 'server-wins' }),
    ]);
  });

  it('adopting the server keeps a stacked edit on top and pins it to the base the change was made on (pin invariant 4)', () => {
    const current = { ...base, title: 'oat milk', note: 'mine' };
    const decision = decide({
      resolver: policy('server-wins'),
      facts: { ...noFacts, pending: stacked, current },
    });
    // The stacked edit changed `note` on top of the change's row; the rest is the server state.
    expect(decision.localRow).toEqual({ kind: 'write', row: { ...base, note: 'mine' } });
    expect(decision.pending).toEqual({ ...stacked, ...pinnedTo(3, base) });
  });

  it('adopting the server turns a stacked insert over a row the server has into an update', () => {
    const decision = decide({
      resolver: policy('server-wins'),
      facts: { ...noFacts, pending: { ...stacked, op: 'I' }, current: base },
    });
    expect(decision.pending?.op).toBe('U');
  });

  it('a rebase rewrites the change against the server version and shows the merged row', () => {
    const decision = decide({});
    const merged = { ...serverRow, title: 'oat milk' };
    expect(decision.report.outcome).toBe('rebase');
    expect(decision.frozen).toEqual({
      kind: 'replace',
      change: {
        ...change,
        letter: 'U',
        baseVersion: 5,
        base: serverRow,
        row: codec.pushRow(merged),
        conflicts: 1,
      },
    });
    expect(decision.localRow).toEqual({ kind: 'write', row: merged });
    expect(decision.pending).toBeNull();
  });

  it('a rebase under a stacked edit keeps the edit’s columns and leaves its entry unpinned (pin invariant 3)', () => {
    const current = { ...base, title: 'soy milk' };
    const decision = decide({ facts: { ...noFacts, pending: stacked, current } });
    expect(decision.localRow).toEqual({
      kind: 'write',
      row: { ...serverRow, title: 'soy milk' },
    });
    expect(decision.pending).toBeNull();
  });

  it('a rebase leaves a stacked delete as it is', () => {
    const decision = decide({ facts: { ...noFacts, pending: { ...stacked, op: 'D' } } });
    expect(decision.localRow).toEqual({ kind: 'keep' });
  });

  it('a rebase to a delete deletes the local row unless an edit is stacked on it', () => {
    const deleting = { ...change, letter: 'D' as const, op: 'delete' as const, row: null };
    const decision = decide({ change: deleting, resolver: policy('client-wins') });
    expect(decision.frozen).toMatchObject({
      kind: 'replace',
      change: { op: 'delete', letter: 'D', row: null, baseVersion: 5 },
    });
    expect(decision.localRow).toEqual({ kind: 'delete' });
    const under = decide({
      change: deleting,
      resolver: policy('client-wins'),
      facts: { ...noFacts, pending: { ...stacked, op: 'I' }, current: base },
    });
    expect(under.localRow).toEqual({ kind: 'keep' });
  });

  it('a manual conflict leaves the change to the app and the local row as it is', () => {
    const decision = decide({ resolver: policy('manual') });
    expect(decision.frozen).toEqual({ kind: 'drop' });
    expect(decision.localRow).toEqual({ kind: 'keep' });
    expect(decision.pending).toBeNull();
    expect(decision.manual).toEqual({
      local: change.row,
      server: serverRow,
      serverVersion: 5,
      serverDeleted: false,
      reason: expect.any(String) as string,
      at: 1_000,
    });
    expect(decision.lost).toEqual([]);
  });

  it('a row out of retries becomes manual whatever its policy', () => {
    const decision = decide({ change: { ...change, conflicts: 3 } });
    expect(decision.report.outcome).toBe('manual');
    expect(decision.manual).not.toBeNull();
  });

  it('keeps the pin invariants and the shape of a decision for any change, answer, row and resolver', () => {
    const seed = Number(process.env['SEED'] ?? Math.floor(Math.random() * 2 ** 31));
    console.log(`decideConflict invariants: SEED=${seed}`);
    const random = createSeededRandom(seed);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const rowOf = (): Row | null =>
      pick([null, base, serverRow, { ...base, title: pick(['a', 'b', 'milk']) }]);
    const resolvers: TableResolver[] = [
      policy('server-wins'),
      policy('client-wins'),
      policy('field-merge'),
      policy('manual'),
      { resolver: () => ({ kind: 'rebase', row: null }), rule: 'custom' },
    ];
    for (let i = 0; i < 2_000; i++) {
      const localRow = rowOf();
      const changeBase = rowOf();
      const server = rowOf();
      const frozen: FrozenChange = {
        ...change,
        op: localRow === null ? 'delete' : 'upsert',
        letter: localRow === null ? 'D' : changeBase === null ? 'I' : 'U',
        row: localRow,
        base: changeBase,
        baseVersion: changeBase === null ? null : 3,
        conflicts: Math.floor(random() * 4),
      };
      const pending = pick([
        undefined,
        stacked,
        { ...stacked, op: 'I' as const },
        { ...stacked, op: 'D' as const },
      ]);
      const facts: SettledRowFacts = {
        serverState: pick([undefined, { version: 3, deleted: false, base }]),
        pending,
        current: pending && pending.op !== 'D' ? pick([null, base]) : null,
      };
      const decision = decide({
        change: frozen,
        conflict: {
          ...conflict,
          serverRow: server,
          serverDeleted: server === null && random() < 0.5,
          serverVersion: server === null && random() < 0.5 ? null : 5,
        },
        facts,
        resolver: pick(resolvers),
      });
      const outcome = decision.report.outcome;
      const at = `SEED=${seed} case ${i}`;
      // The change stays in flight exactly when it was rebased, one attempt further.
      expect(decision.frozen.kind === 'replace', at).toBe(outcome === 'rebase');
      if (decision.frozen.kind === 'replace') {
        expect(decision.frozen.change.conflicts, at).toBe(frozen.conflicts + 1);
      }
      // A manual record exactly for a manual outcome, with nothing dropped and the row kept.
      expect(decision.manual !== null, at).toBe(outcome === 'manual');
      if (outcome === 'manual') {
        expect(decision.lost, at).toEqual([]);
        expect(decision.localRow, at).toEqual({ kind: 'keep' });
      }
      // Pins: a stacked edit is rewritten only when the change leaves the bundle unpushed
      // (adopted), pinned to the base the change was made on; otherwise it stays as it is.
      if (pending && outcome === 'adopt-server') {
        expect(decision.pending, at).toMatchObject(pinnedTo(frozen.baseVersion, frozen.base));
      } else {
        expect(decision.pending, at).toBeNull();
      }
      // A stacked delete is never overwritten by a settled row.
      if (pending?.op === 'D') expect(decision.localRow.kind, at).toBe('keep');
    }
  });
});

import { describe, expect, it } from 'vitest';
import { lostValuesOf, settledRowOf, type LostValues } from './lost-values.js';
import { BUILTIN_RESOLVERS, decideConflictOutcome, type ResolverOutcome } from './merge.js';
import { defineSchema, type Row } from './schema.js';

const notes = defineSchema({
  tables: {
    notes: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        title: { type: 'text' },
        pinned: { type: 'boolean', notNull: true, default: false },
        color: { type: 'text', merge: 'client' },
        tags: { type: 'json' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
}).requireTable('notes');
const ID = '6f1c0b8e-8c1d-4c55-9a4e-0d1f2a3b4c5d';
/** The columns a merge decides: not the key, the owner or server-derived ones. */
const MERGED = ['title', 'pinned', 'color', 'tags'];

function note(fields: Partial<Row>): Row {
  return {
    id: ID,
    owner_id: 'alice',
    title: 't',
    pinned: false,
    color: null,
    tags: null,
    updated_at: '2026-01-01T00:00:00.000Z',
    ...fields,
  };
}

/** The merged columns of a note with `fields`. */
function whole(fields: Partial<Row>): Row {
  const row = note(fields);
  return Object.fromEntries(MERGED.map((c) => [c, row[c]]));
}

const rebase = (row: Row | null): ResolverOutcome => ({ kind: 'rebase', row });
const ADOPT: ResolverOutcome = { kind: 'adopt-server' };

describe('lostValuesOf', () => {
  const cases: {
    name: string;
    local: Partial<Row> | null;
    base: Partial<Row> | null;
    server: Partial<Row> | null;
    serverDeleted?: boolean;
    outcome: ResolverOutcome;
    lost: LostValues[];
  }[] = [
    {
      name: 'a field-merge where the server wins a field changed on both sides drops the local value',
      local: { title: 'mine' },
      base: {},
      server: { title: 'theirs' },
      outcome: ADOPT,
      lost: [
        { loser: 'local', columns: ['title'], lost: { title: 'mine' }, won: { title: 'theirs' } },
      ],
    },
    {
      name: 'a merged row drops only the local fields it does not keep',
      local: { title: 'mine', pinned: true },
      base: {},
      server: { title: 'theirs' },
      outcome: rebase(note({ title: 'theirs', pinned: true })),
      lost: [
        { loser: 'local', columns: ['title'], lost: { title: 'mine' }, won: { title: 'theirs' } },
      ],
    },
    {
      name: 'a field whose rule is client drops the server value',
      local: { color: 'red' },
      base: { color: 'blue' },
      server: { color: 'green' },
      outcome: rebase(note({ color: 'red' })),
      lost: [
        { loser: 'server', columns: ['color'], lost: { color: 'green' }, won: { color: 'red' } },
      ],
    },
    {
      name: 'one row can drop a local field and a server field, local first',
      local: { title: 'mine', color: 'red' },
      base: { color: 'blue' },
      server: { title: 'theirs', color: 'green' },
      outcome: rebase(note({ title: 'theirs', color: 'red' })),
      lost: [
        { loser: 'local', columns: ['title'], lost: { title: 'mine' }, won: { title: 'theirs' } },
        { loser: 'server', columns: ['color'], lost: { color: 'green' }, won: { color: 'red' } },
      ],
    },
    {
      name: 'server-wins drops a local edit of another field than the server changed',
      local: { pinned: true },
      base: {},
      server: { title: 'theirs' },
      outcome: ADOPT,
      lost: [
        { loser: 'local', columns: ['pinned'], lost: { pinned: true }, won: { pinned: false } },
      ],
    },
    {
      name: 'server-wins adopting a server delete drops the whole edited local row',
      local: { title: 'edited' },
      base: {},
      server: null,
      serverDeleted: true,
      outcome: ADOPT,
      lost: [{ loser: 'local', columns: MERGED, lost: whole({ title: 'edited' }), won: null }],
    },
    {
      name: 'server-wins bringing a row back drops the local delete',
      local: null,
      base: {},
      server: { title: 'theirs' },
      outcome: ADOPT,
      lost: [{ loser: 'local', columns: MERGED, lost: null, won: whole({ title: 'theirs' }) }],
    },
    {
      name: 'a local delete winning over a server edit drops the server row',
      local: null,
      base: {},
      server: { title: 'theirs' },
      outcome: rebase(null),
      lost: [{ loser: 'server', columns: MERGED, lost: whole({ title: 'theirs' }), won: null }],
    },
    {
      name: 'client-wins re-creating a row drops the server delete',
      local: { title: 'edited' },
      base: {},
      server: null,
      serverDeleted: true,
      outcome: rebase(note({ title: 'edited' })),
      lost: [{ loser: 'server', columns: MERGED, lost: null, won: whole({ title: 'edited' }) }],
    },
    {
      name: 'client-wins drops the server value of a field only the server changed',
      local: { pinned: true },
      base: {},
      server: { title: 'theirs' },
      outcome: rebase(note({ pinned: true })),
      lost: [
        { loser: 'server', columns: ['title'], lost: { title: 'theirs' }, won: { title: 't' } },
      ],
    },
    {
      name: 'a custom value that is neither side drops both',
      local: { title: 'a' },
      base: {},
      server: { title: 'b' },
      outcome: rebase(note({ title: 'b + a' })),
      lost: [
        { loser: 'local', columns: ['title'], lost: { title: 'a' }, won: { title: 'b + a' } },
        { loser: 'server', columns: ['title'], lost: { title: 'b' }, won: { title: 'b + a' } },
      ],
    },
    {
      name: 'a merge of fields changed on one side each drops nothing',
      local: { title: 'mine' },
      base: {},
      server: { pinned: true },
      outcome: rebase(note({ title: 'mine', pinned: true })),
      lost: [],
    },
    {
      name: 'a manual conflict drops nothing',
      local: { title: 'mine' },
      base: {},
      server: { title: 'theirs' },
      outcome: { kind: 'manual', reason: 'the table resolves conflicts manually' },
      lost: [],
    },
    {
      name: 'a row deleted on both sides drops nothing',
      local: null,
      base: {},
      server: null,
      serverDeleted: true,
      outcome: ADOPT,
      lost: [],
    },
    {
      name: 'a local delete over a server row that changed no merged field drops nothing',
      local: null,
      base: {},
      server: { updated_at: '2026-02-02T00:00:00.000Z' },
      outcome: rebase(null),
      lost: [],
    },
    {
      name: 'without a base, only fields that differ between the sides count as changed',
      local: { title: 'mine', pinned: true },
      base: null,
      server: { title: 'theirs', pinned: true },
      outcome: ADOPT,
      lost: [
        { loser: 'local', columns: ['title'], lost: { title: 'mine' }, won: { title: 'theirs' } },
      ],
    },
    {
      name: 'server-wins over a row the server never had drops the local row, and nothing of the server',
      local: { title: 'new' },
      base: null,
      server: null,
      outcome: ADOPT,
      lost: [{ loser: 'local', columns: MERGED, lost: whole({ title: 'new' }), won: null }],
    },
    {
      name: 'client-wins over a row the server never had drops nothing',
      local: { title: 'new' },
      base: null,
      server: null,
      outcome: rebase(note({ title: 'new' })),
      lost: [],
    },
    {
      name: 'the owner and server-derived columns never count',
      local: { owner_id: 'mallory', updated_at: '2020-01-01T00:00:00.000Z' },
      base: {},
      server: {},
      outcome: ADOPT,
      lost: [],
    },
    {
      name: 'json values are compared structurally',
      local: { tags: { a: 1, b: [2] } },
      base: {},
      server: { title: 'theirs' },
      outcome: rebase(note({ title: 'theirs', tags: { b: [2], a: 1 } })),
      lost: [],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const lost = lostValuesOf({
        table: notes,
        local: c.local === null ? null : note(c.local),
        base: c.base === null ? null : note(c.base),
        server: c.server === null ? null : note(c.server),
        serverDeleted: c.serverDeleted ?? false,
        outcome: c.outcome,
      });
      expect(lost).toEqual(c.lost);
    });
  }

  it('journals what decideConflictOutcome settles for every built-in policy', () => {
    // The same conflict under each policy: title changed on both sides, pinned only locally.
    const local = note({ title: 'mine', pinned: true });
    const base = note({});
    const server = note({ title: 'theirs' });
    const lostUnder = (policy: keyof typeof BUILTIN_RESOLVERS) =>
      lostValuesOf({
        table: notes,
        local,
        base,
        server,
        serverDeleted: false,
        outcome: decideConflictOutcome({
          resolver: BUILTIN_RESOLVERS[policy],
          local,
          base,
          server,
          context: { table: notes, pk: ID, serverVersion: 2, serverDeleted: false, attempts: 0 },
          maxAttempts: 3,
        }),
      });
    expect(lostUnder('field-merge')).toEqual([
      { loser: 'local', columns: ['title'], lost: { title: 'mine' }, won: { title: 'theirs' } },
    ]);
    expect(lostUnder('server-wins')).toEqual([
      {
        loser: 'local',
        columns: ['title', 'pinned'],
        lost: { title: 'mine', pinned: true },
        won: { title: 'theirs', pinned: false },
      },
    ]);
    expect(lostUnder('client-wins')).toEqual([
      { loser: 'server', columns: ['title'], lost: { title: 'theirs' }, won: { title: 'mine' } },
    ]);
    expect(lostUnder('manual')).toEqual([]);
  });
});

describe('settledRowOf', () => {
  it('is the server row, the rebased row over it, or nothing for a manual conflict', () => {
    const server = note({ title: 'theirs' });
    expect(settledRowOf(ADOPT, server)).toBe(server);
    expect(settledRowOf(ADOPT, null)).toBeNull();
    expect(settledRowOf(rebase({ title: 'mine' }), server)).toEqual(note({ title: 'mine' }));
    expect(settledRowOf(rebase({ title: 'mine' }), null)).toEqual({ title: 'mine' });
    expect(settledRowOf(rebase(null), server)).toBeNull();
    expect(settledRowOf({ kind: 'manual', reason: 'x' }, server)).toBeUndefined();
  });
});

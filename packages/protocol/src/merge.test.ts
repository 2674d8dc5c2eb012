import { describe, expect, it } from 'vitest';
import {
  BUILTIN_RESOLVERS,
  decideConflictOutcome,
  mergeFields,
  valuesEqual,
  type ConflictContext,
  type ConflictResolver,
} from './merge.js';
import { defineSchema, type Row } from './schema.js';

const schema = defineSchema({
  tables: {
    notes: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        title: { type: 'text', notNull: true },
        body: { type: 'text' },
        pinned: { type: 'boolean', notNull: true, default: false },
        color: { type: 'text', merge: 'client' },
        label: { type: 'text', merge: 'manual' },
        tags: { type: 'json' },
        updated_at: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
  },
});
const notes = schema.requireTable('notes');
const ID = '6f1c0b8e-8c1d-4c55-9a4e-0d1f2a3b4c5d';

function note(fields: Partial<Row>): Row {
  return {
    id: ID,
    owner_id: 'alice',
    title: 'a',
    body: null,
    pinned: false,
    color: null,
    label: null,
    tags: null,
    updated_at: '2026-01-01T00:00:00.000Z',
    ...fields,
  };
}

function context(fields: Partial<ConflictContext> = {}): ConflictContext {
  return { table: notes, pk: ID, serverVersion: 5, serverDeleted: false, attempts: 0, ...fields };
}

describe('mergeFields', () => {
  const cases: {
    name: string;
    local: Partial<Row>;
    base: Partial<Row> | null;
    server: Partial<Row>;
    expected: Partial<Row>;
    both?: string[];
    manual?: string[];
  }[] = [
    {
      name: 'keeps a field changed only locally',
      local: { title: 'local' },
      base: { title: 'a' },
      server: { title: 'a' },
      expected: { title: 'local' },
    },
    {
      name: 'takes a field changed only on the server',
      local: { title: 'a' },
      base: { title: 'a' },
      server: { title: 'server' },
      expected: { title: 'server' },
    },
    {
      name: 'combines different fields changed on each side',
      local: { title: 'local', pinned: false },
      base: { title: 'a', pinned: false },
      server: { title: 'a', pinned: true },
      expected: { title: 'local', pinned: true },
    },
    {
      name: 'lets the server win a field changed on both sides by default',
      local: { title: 'local' },
      base: { title: 'a' },
      server: { title: 'server' },
      expected: { title: 'server' },
      both: ['title'],
    },
    {
      name: 'lets the client win a both-sides field whose rule is client',
      local: { color: 'red' },
      base: { color: 'blue' },
      server: { color: 'green' },
      expected: { color: 'red' },
      both: ['color'],
    },
    {
      name: 'leaves a both-sides field whose rule is manual undecided, with the server value',
      local: { label: 'mine', title: 'local' },
      base: { label: 'old' },
      server: { label: 'theirs' },
      expected: { label: 'theirs', title: 'local' },
      both: ['label'],
      manual: ['label'],
    },
    {
      name: 'merges a field whose rule is manual like any other when only one side changed it',
      local: { label: 'mine' },
      base: {},
      server: { title: 'server' },
      expected: { label: 'mine', title: 'server' },
    },
    {
      name: 'treats equal changes on both sides as no conflict',
      local: { title: 'same' },
      base: { title: 'a' },
      server: { title: 'same' },
      expected: { title: 'same' },
    },
    {
      name: 'compares json values structurally',
      local: { tags: { b: 2, a: [1] } },
      base: { tags: { a: [1], b: 2 } },
      server: { tags: ['x'] },
      expected: { tags: ['x'] },
    },
    {
      name: 'takes server-derived columns and the owner from the server',
      local: { updated_at: '2020-01-01T00:00:00.000Z', owner_id: 'mallory' },
      base: {},
      server: { updated_at: '2026-05-05T00:00:00.000Z' },
      expected: { updated_at: '2026-05-05T00:00:00.000Z', owner_id: 'alice' },
    },
    {
      name: 'counts every differing field as changed on both sides without a base',
      local: { title: 'local', color: 'red', body: 'x' },
      base: null,
      server: { title: 'server', color: 'green', body: 'x' },
      expected: { title: 'server', color: 'red', body: 'x' },
      both: ['title', 'color'],
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const merge = mergeFields(
        notes,
        note(c.local),
        c.base === null ? null : note(c.base),
        note(c.server),
      );
      expect(merge.row).toEqual(note(c.expected));
      expect(merge.both).toEqual(c.both ?? []);
      expect(merge.manual).toEqual(c.manual ?? []);
    });
  }

  it('takes the server’s value of a column the local row does not carry (made before the app’s update added it), whatever its rule', () => {
    const local = note({ title: 'local' });
    delete (local as Record<string, unknown>)['color'];
    const merge = mergeFields(
      notes,
      local,
      note({ title: 'a', color: 'red' }),
      note({ title: 'a', color: 'blue' }),
    );
    expect(merge.row).toEqual(note({ title: 'local', color: 'blue' }));
    expect(merge.both).toEqual([]);
  });
});

describe('built-in resolvers', () => {
  it('server-wins adopts the server row, also over a local delete', () => {
    expect(BUILTIN_RESOLVERS['server-wins'](null, note({}), note({}), context())).toEqual({
      kind: 'adopt-server',
    });
  });

  it('client-wins pushes the local row again, re-creating a row the server deleted', () => {
    const local = note({ title: 'mine' });
    expect(
      BUILTIN_RESOLVERS['client-wins'](local, note({}), null, context({ serverDeleted: true })),
    ).toEqual({ kind: 'rebase', row: local });
    expect(BUILTIN_RESOLVERS['client-wins'](null, note({}), note({}), context())).toEqual({
      kind: 'rebase',
      row: null,
    });
  });

  it('field-merge rebases onto the merged row', () => {
    const outcome = BUILTIN_RESOLVERS['field-merge'](
      note({ title: 'local' }),
      note({}),
      note({ pinned: true }),
      context(),
    );
    expect(outcome).toEqual({ kind: 'rebase', row: note({ title: 'local', pinned: true }) });
  });

  it('field-merge adopts the server row when no local change survives the merge', () => {
    const outcome = BUILTIN_RESOLVERS['field-merge'](
      note({ title: 'local' }),
      note({}),
      note({ title: 'server' }),
      context(),
    );
    expect(outcome).toEqual({ kind: 'adopt-server' });
  });

  it('field-merge makes a row whose manual-rule column changed on both sides a manual conflict', () => {
    const outcome = BUILTIN_RESOLVERS['field-merge'](
      note({ label: 'mine', title: 'local' }),
      note({}),
      note({ label: 'theirs' }),
      context(),
    );
    expect(outcome).toEqual({
      kind: 'manual',
      reason: 'changed on both sides, and the merge rule of label is manual',
    });
  });

  it('field-merge honours a table-wide manual rule and a column that overrides it', () => {
    const strict = defineSchema({
      tables: {
        notes: {
          owner: 'owner_id',
          merge: 'manual',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
            title: { type: 'text' },
            pinned: { type: 'boolean', merge: 'server' },
          },
        },
      },
    }).requireTable('notes');
    const row = (fields: Partial<Row>): Row => ({
      id: ID,
      owner_id: 'alice',
      title: 'a',
      pinned: false,
      ...fields,
    });
    const ctx = context({ table: strict });
    expect(
      BUILTIN_RESOLVERS['field-merge'](row({ title: 'l' }), row({}), row({ title: 's' }), ctx),
    ).toMatchObject({ kind: 'manual' });
    expect(
      BUILTIN_RESOLVERS['field-merge'](row({ pinned: true }), row({}), row({ pinned: null }), ctx),
    ).toEqual({ kind: 'adopt-server' });
  });

  it('field-merge makes a local edit of a row deleted on the server a manual conflict', () => {
    const outcome = BUILTIN_RESOLVERS['field-merge'](
      note({ title: 'local' }),
      note({}),
      null,
      context({ serverDeleted: true }),
    );
    expect(outcome.kind).toBe('manual');
  });

  it('field-merge lets a local delete win over a server edit', () => {
    expect(
      BUILTIN_RESOLVERS['field-merge'](null, note({}), note({ title: 's' }), context()),
    ).toEqual({ kind: 'rebase', row: null });
  });

  it('manual always records a manual conflict', () => {
    expect(BUILTIN_RESOLVERS.manual(note({}), note({}), note({}), context()).kind).toBe('manual');
  });
});

describe('decideConflictOutcome', () => {
  const decide = (resolver: ConflictResolver, fields: Partial<ConflictContext> = {}) =>
    decideConflictOutcome({
      resolver,
      local: note({ title: 'local' }),
      base: note({}),
      server: note({ title: 'server' }),
      context: context(fields),
      maxAttempts: 3,
    });

  it('adopts the server when both sides deleted the row, whatever the resolver says', () => {
    const outcome = decideConflictOutcome({
      resolver: BUILTIN_RESOLVERS['client-wins'],
      local: null,
      base: note({}),
      server: null,
      context: context({ serverDeleted: true }),
      maxAttempts: 3,
    });
    expect(outcome).toEqual({ kind: 'adopt-server' });
  });

  it('turns a row into a manual conflict after the retry limit', () => {
    expect(decide(BUILTIN_RESOLVERS['client-wins'], { attempts: 3 })).toEqual({
      kind: 'manual',
      reason: 'still conflicting after 3 automatic retries',
    });
  });

  it('makes a throwing custom resolver a manual conflict with the reason', () => {
    const outcome = decide(() => {
      throw new Error('boom');
    });
    expect(outcome).toEqual({ kind: 'manual', reason: 'the resolver threw: boom' });
  });

  it('makes a malformed custom outcome a manual conflict', () => {
    expect(decide((() => ({ kind: 'keep' })) as unknown as ConflictResolver).kind).toBe('manual');
  });

  it('runs a custom pure resolver with the three rows', () => {
    const outcome = decide((local, _base, server) => ({
      kind: 'rebase',
      row: { ...server!, title: `${String(local!.title)}+${String(server!.title)}` },
    }));
    expect(outcome).toEqual({ kind: 'rebase', row: note({ title: 'local+server' }) });
  });

  it('adopts the server when a rebase would push the server row unchanged', () => {
    expect(decide((_l, _b, server) => ({ kind: 'rebase', row: server }))).toEqual({
      kind: 'adopt-server',
    });
  });
});

describe('valuesEqual', () => {
  it('treats undefined as null and ignores key order', () => {
    expect(valuesEqual(undefined, null)).toBe(true);
    expect(valuesEqual({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(valuesEqual([1, 2], [2, 1])).toBe(false);
    expect(valuesEqual(0, false)).toBe(false);
    expect(valuesEqual({ a: null }, {})).toBe(true);
  });
});

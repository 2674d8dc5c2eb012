import { describe, expect, it } from 'vitest';
import { defineSchema, type SchemaDeclaration, type TableDeclaration } from './schema.js';
import { planMigration, schemaHistory, type MigrationStep } from './schema-history.js';

const lists: TableDeclaration = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    name: { type: 'text', notNull: true, maxLength: 20 },
    rank: { type: 'integer' },
  },
};
const items: TableDeclaration = {
  owner: 'owner_id',
  columns: {
    id: { type: 'uuid' },
    owner_id: { type: 'text' },
    list_id: { type: 'uuid', references: { table: 'lists', onDelete: 'cascade' } },
    label: { type: 'text' },
  },
};

function version(
  v: number,
  tables: SchemaDeclaration['tables'],
  extra: Partial<SchemaDeclaration> = {},
) {
  return defineSchema({ version: v, tables, ...extra });
}

function steps(from: ReturnType<typeof version>, to: ReturnType<typeof version>): MigrationStep[] {
  const plan = planMigration(from, to);
  if (!plan.ok) throw new Error(plan.problems.join('; '));
  return [...plan.steps];
}

describe('schema versions and their migrations', () => {
  it('keeps the fingerprint of a schema without a version or indexes, and changes it with either', () => {
    const plain = defineSchema({ tables: { lists } });
    expect(plain.version).toBe(1);
    expect(defineSchema({ version: 1, tables: { lists } }).fingerprint).toBe(plain.fingerprint);
    expect(version(2, { lists }).fingerprint).not.toBe(plain.fingerprint);
    const indexed = defineSchema({
      tables: { lists: { ...lists, indexes: { by_rank: { columns: ['rank'] } } } },
    });
    expect(indexed.fingerprint).not.toBe(plain.fingerprint);
    expect(indexed.requireTable('lists').indexes).toEqual([
      { name: 'by_rank', sqlName: 'ix_lists_by_rank', columns: ['rank'] },
    ]);
  });

  it('reads added tables, columns and indexes off two declarations, parents first', () => {
    const v1 = version(1, { lists });
    const v2 = version(2, {
      lists: {
        ...lists,
        columns: { ...lists.columns, color: { type: 'text', notNull: true, default: 'blue' } },
        indexes: { by_rank: { columns: ['rank'] } },
      },
      items,
    });
    expect(steps(v1, v2)).toEqual([
      { kind: 'add-table', table: 'items' },
      { kind: 'add-column', table: 'lists', column: 'color' },
      { kind: 'add-index', table: 'lists', index: 'by_rank' },
    ]);
  });

  it('renames tables and columns only where declared, and orders custom SQL between adds and drops', () => {
    const v1 = version(1, { lists, items });
    const { label, ...rest } = items.columns;
    const v2 = version(
      2,
      {
        lists: { ...lists, columns: { ...lists.columns, rank: { type: 'real' } } },
        entries: {
          ...items,
          renamedFrom: 'items',
          columns: { ...rest, text: { ...label!, renamedFrom: 'label' }, note: { type: 'text' } },
        },
      },
      { migration: { sql: 'UPDATE entries SET note = text' } },
    );
    expect(steps(v1, v2)).toEqual([
      { kind: 'rename-table', from: 'items', to: 'entries' },
      { kind: 'rename-column', table: 'entries', from: 'label', to: 'text' },
      { kind: 'add-column', table: 'entries', column: 'note' },
      {
        kind: 'change-column',
        table: 'lists',
        column: 'rank',
        changes: ['type'],
        fromType: 'integer',
      },
      {
        kind: 'sql',
        sqlite: 'UPDATE entries SET note = text',
        postgres: 'UPDATE entries SET note = text',
      },
    ]);
    // Without the hints the same declarations are a drop and an add.
    const unhinted = version(2, {
      lists,
      items: { ...items, columns: { ...rest, text: label! } },
    });
    expect(steps(v1, unhinted)).toEqual([
      { kind: 'add-column', table: 'items', column: 'text' },
      { kind: 'drop-column', table: 'items', column: 'label' },
    ]);
  });

  it('drops children before parents and widens what can be widened', () => {
    const v1 = version(1, { lists, items });
    const v2 = version(2, {
      lists: {
        ...lists,
        columns: { ...lists.columns, name: { type: 'text', maxLength: 100, default: 'x' } },
      },
    });
    expect(steps(v1, v2)).toEqual([
      {
        kind: 'change-column',
        table: 'lists',
        column: 'name',
        changes: ['nullable', 'length', 'default'],
        fromType: 'text',
      },
      { kind: 'drop-table', table: 'items' },
    ]);
  });

  it('refuses every change that would lose or break a value, naming each', () => {
    const v1 = version(1, { lists, items });
    const v2 = version(2, {
      lists: {
        ...lists,
        columns: {
          ...lists.columns,
          name: { type: 'text', notNull: true, maxLength: 5 },
          rank: { type: 'text' },
          added: { type: 'integer', notNull: true },
        },
      },
      items: {
        ...items,
        columns: { ...items.columns, label: { type: 'text', notNull: true, default: '' } },
      },
    });
    const plan = planMigration(v1, v2);
    expect(plan.ok).toBe(false);
    expect(plan.ok ? [] : plan.problems).toEqual([
      'lists.name gets a shorter maxLength: longer values would break it',
      'lists.rank changes type from integer to text, which is not a widening (integer → real, uuid → text): add a new column and copy the values with migration.sql',
      'lists.added is added as not-null without a default: existing rows would have no value',
      'items.label becomes not-null: rows that hold null would break it',
    ]);
    expect(() => schemaHistory(v1, v2)).toThrow(/version 2: lists.name gets a shorter maxLength/);
  });

  it('refuses an added reference that existing rows could not satisfy', () => {
    const v1 = version(1, { lists, items });
    const v2 = version(2, {
      lists,
      items: {
        ...items,
        columns: {
          ...items.columns,
          other: {
            type: 'uuid',
            notNull: true,
            default: '00000000-0000-4000-8000-000000000000',
            references: { table: 'lists' },
          },
        },
      },
    });
    expect(() => schemaHistory(v1, v2)).toThrow(
      /items.other is added as a reference that is not-null or has a default/,
    );
  });

  it('refuses a history whose versions do not grow, or a key that changes column', () => {
    const v1 = version(1, { lists });
    expect(() => schemaHistory(v1, version(1, { lists }))).toThrow(/versions must grow/);
    const moved = version(2, {
      lists: { ...lists, primaryKey: 'key', columns: { ...lists.columns, key: { type: 'uuid' } } },
    });
    expect(() => schemaHistory(v1, moved)).toThrow(/primary key must stay the same column/);
    const renamedGone = version(2, {
      lists: {
        ...lists,
        columns: { ...lists.columns, title: { type: 'text', renamedFrom: 'nope' } },
      },
    });
    expect(() => schemaHistory(v1, renamedGone)).toThrow(
      /renamed from "nope", which lists does not have/,
    );
  });

  it('gives the migrations between any two versions, and finds a version by fingerprint', () => {
    const v1 = version(1, { lists });
    const v2 = version(2, { lists, items });
    const v3 = version(3, {
      lists,
      items: { ...items, indexes: { by_list: { columns: ['list_id'] } } },
    });
    const history = schemaHistory(v1, v2, v3);
    expect(history.latest).toBe(v3);
    expect(history.migrations(1).map((m) => m.to.version)).toEqual([2, 3]);
    expect(history.migrations(2).map((m) => m.to.version)).toEqual([3]);
    expect(history.migrations(1, 2).map((m) => m.to.version)).toEqual([2]);
    expect(history.migrations(3)).toEqual([]);
    expect(history.withFingerprint(v2.fingerprint)).toBe(v2);
    expect(history.at(3)).toBe(v3);
  });
});

describe('who assigns keys across versions', () => {
  it('cannot change: a table whose keys the server assigns stays so', () => {
    const v1 = version(1, { lists });
    const v2 = version(2, { lists: { ...lists, keys: 'server' } });
    expect(() => schemaHistory(v1, v2)).toThrow(/lists: who assigns its keys .* cannot change/);
  });
});

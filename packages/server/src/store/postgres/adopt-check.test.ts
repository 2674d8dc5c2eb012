import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema } from '@ferry/protocol';
import {
  acceptsPgType,
  checkAdoption,
  mismatchReport,
  type ExistingColumn,
  type ExistingTable,
} from './adopt-check.js';
import { indexesToBuild } from './adopt-indexes.js';

const column = (
  name: string,
  type: string,
  notNull = false,
  hasDefault = false,
): ExistingColumn => ({
  name,
  type,
  notNull,
  hasDefault,
  generatedAlways: false,
});

/** The todo schema's tables as a team might have made them by hand, fitting it exactly. */
function fitting(): ExistingTable[] {
  return [
    {
      name: 'lists',
      kind: 'r',
      columns: [
        column('id', 'uuid', true),
        column('owner_id', 'text', true),
        column('name', 'character varying(200)', true),
        column('created_at', 'timestamp with time zone'),
        column('updated_at', 'timestamp with time zone', true, true),
      ],
      primaryKey: ['id'],
      foreignKeys: [],
      indexes: [{ name: 'lists_pkey', columns: ['id'], valid: true }],
    },
    {
      name: 'todos',
      kind: 'r',
      columns: [
        column('id', 'uuid', true),
        column('owner_id', 'text', true),
        column('list_id', 'uuid', true),
        column('title', 'text', true),
        column('done', 'boolean', true, true),
        column('position', 'double precision'),
        column('updated_at', 'timestamp with time zone'),
      ],
      primaryKey: ['id'],
      foreignKeys: [
        {
          name: 'todos_list_id_fkey',
          columns: ['list_id'],
          parentSchema: 'public',
          parentTable: 'lists',
          parentColumns: ['id'],
          onDelete: 'cascade',
          deferrable: false,
          initiallyDeferred: false,
        },
      ],
      indexes: [
        { name: 'todos_pkey', columns: ['id'], valid: true },
        { name: 'todos_by_owner_and_list', columns: ['owner_id', 'list_id'], valid: true },
      ],
    },
  ];
}

/** `fitting()` with one table changed by `change`. */
function changed(table: string, change: (t: ExistingTable) => ExistingTable): ExistingTable[] {
  return fitting().map((t) => (t.name === table ? change(t) : t));
}

function withColumn(t: ExistingTable, name: string, patch: Partial<ExistingColumn>): ExistingTable {
  return { ...t, columns: t.columns.map((c) => (c.name === name ? { ...c, ...patch } : c)) };
}

const kinds = (tables: ExistingTable[]) =>
  checkAdoption(todoSchema, tables, 'public').map((m) => [m.kind, m.table, m.column]);

describe('checkAdoption', () => {
  it('finds nothing to report on tables that fit the schema, extra nullable and defaulted columns included', () => {
    const tables = changed('todos', (t) => ({
      ...t,
      columns: [
        ...t.columns,
        column('notes', 'text'),
        column('created_by', 'text', true, true),
        column('legacy_id', 'integer', true, true),
      ],
    }));
    expect(checkAdoption(todoSchema, tables, 'public')).toEqual([]);
  });

  it('reports a missing table and a relation that is not a plain table', () => {
    const tables = fitting()
      .filter((t) => t.name !== 'lists')
      .map((t) => (t.name === 'todos' ? { ...t, kind: 'v' } : t));
    expect(checkAdoption(todoSchema, tables, 'public')).toEqual([
      { kind: 'missing_table', table: 'lists', message: 'table lists does not exist' },
      {
        kind: 'not_a_table',
        table: 'todos',
        message: 'todos is a view, not a plain table',
      },
    ]);
  });

  it('reports every mismatch of every table at once, not only the first', () => {
    const tables = fitting().map((t) =>
      t.name === 'lists'
        ? { ...withColumn(t, 'owner_id', { notNull: false }), primaryKey: null }
        : {
            ...withColumn(t, 'position', { type: 'real' }),
            columns: withColumn(t, 'position', { type: 'real' }).columns.filter(
              (c) => c.name !== 'done',
            ),
            foreignKeys: [],
          },
    );
    expect(kinds(tables)).toEqual([
      ['nullability', 'lists', 'owner_id'],
      ['primary_key', 'lists', undefined],
      ['missing_column', 'todos', 'done'],
      ['wrong_type', 'todos', 'position'],
      ['missing_reference', 'todos', 'list_id'],
    ]);
  });

  it('accepts exactly the types that hold and print every value of a column type', () => {
    const integer = { type: 'integer', maxLength: undefined } as const;
    expect(acceptsPgType(integer, 'bigint')).toBe(true);
    expect(acceptsPgType(integer, 'integer')).toBe(false);
    expect(acceptsPgType(integer, 'smallint')).toBe(false);
    expect(acceptsPgType({ type: 'real', maxLength: undefined }, 'double precision')).toBe(true);
    expect(acceptsPgType({ type: 'real', maxLength: undefined }, 'real')).toBe(false);
    expect(acceptsPgType({ type: 'real', maxLength: undefined }, 'numeric')).toBe(false);
    const timestamp = { type: 'timestamp', maxLength: undefined } as const;
    expect(acceptsPgType(timestamp, 'timestamp with time zone')).toBe(true);
    expect(acceptsPgType(timestamp, 'timestamp without time zone')).toBe(false);
    expect(acceptsPgType({ type: 'json', maxLength: undefined }, 'jsonb')).toBe(true);
    expect(acceptsPgType({ type: 'json', maxLength: undefined }, 'json')).toBe(false);
    expect(acceptsPgType({ type: 'uuid', maxLength: undefined }, 'text')).toBe(false);
    expect(acceptsPgType({ type: 'boolean', maxLength: undefined }, 'boolean')).toBe(true);
  });

  it('accepts varchar for text only when it holds the declared maxLength', () => {
    expect(acceptsPgType({ type: 'text', maxLength: undefined }, 'text')).toBe(true);
    expect(acceptsPgType({ type: 'text', maxLength: undefined }, 'character varying')).toBe(true);
    expect(acceptsPgType({ type: 'text', maxLength: undefined }, 'character varying(50)')).toBe(
      false,
    );
    expect(acceptsPgType({ type: 'text', maxLength: 200 }, 'character varying(200)')).toBe(true);
    expect(acceptsPgType({ type: 'text', maxLength: 200 }, 'character varying(100)')).toBe(false);
    expect(acceptsPgType({ type: 'text', maxLength: 200 }, 'character(200)')).toBe(false);
  });

  it('reports NOT NULL on a nullable declared column, except a server-derived one Ferry always fills', () => {
    const tables = changed('todos', (t) =>
      withColumn(withColumn(t, 'position', { notNull: true }), 'updated_at', { notNull: true }),
    );
    const mismatches = checkAdoption(todoSchema, tables, 'public');
    expect(mismatches.map((m) => [m.kind, m.column])).toEqual([['nullability', 'position']]);
    expect(mismatches[0]!.message).toBe(
      'todos.position is NOT NULL; the schema declares it nullable, so a device may write null',
    );
  });

  it('reports a nullable owner column as the owner column', () => {
    const [mismatch] = checkAdoption(
      todoSchema,
      changed('todos', (t) => withColumn(t, 'owner_id', { notNull: false })),
      'public',
    );
    expect(mismatch!.message).toBe(
      'todos.owner_id is nullable; the schema needs NOT NULL (the owner column)',
    );
  });

  it('reports a declared column that is GENERATED ALWAYS', () => {
    expect(
      kinds(changed('todos', (t) => withColumn(t, 'title', { generatedAlways: true }))),
    ).toEqual([['generated_column', 'todos', 'title']]);
  });

  it('reports a primary key on other columns than the declared one', () => {
    const [mismatch] = checkAdoption(
      todoSchema,
      changed('todos', (t) => ({ ...t, primaryKey: ['id', 'owner_id'] })),
      'public',
    );
    expect(mismatch).toEqual({
      kind: 'primary_key',
      table: 'todos',
      message: "todos's primary key is (id, owner_id); the schema's is (id)",
    });
  });

  it('reports an extra NOT NULL column without a default, which no device insert could fill', () => {
    expect(
      kinds(
        changed('lists', (t) => ({
          ...t,
          columns: [...t.columns, column('tenant', 'text', true)],
        })),
      ),
    ).toEqual([['extra_required_column', 'lists', 'tenant']]);
  });

  it('reports a foreign key with another ON DELETE, or to another table or schema, as the reference', () => {
    const fk = fitting()[1]!.foreignKeys[0]!;
    expect(
      kinds(changed('todos', (t) => ({ ...t, foreignKeys: [{ ...fk, onDelete: 'no action' }] }))),
    ).toEqual([['reference_action', 'todos', 'list_id']]);
    expect(
      kinds(changed('todos', (t) => ({ ...t, foreignKeys: [{ ...fk, parentSchema: 'other' }] }))),
    ).toEqual([['missing_reference', 'todos', 'list_id']]);
    expect(
      kinds(changed('todos', (t) => ({ ...t, foreignKeys: [{ ...fk, parentTable: 'todos' }] }))),
    ).toEqual([['missing_reference', 'todos', 'list_id']]);
  });

  it('accepts NO ACTION and RESTRICT for a restrict reference, and asks a reference in a cycle to be deferred', () => {
    const schema = defineSchema({
      tables: {
        a: {
          owner: 'o',
          columns: {
            id: { type: 'text' },
            o: { type: 'text' },
            b_id: { type: 'text', references: { table: 'b', onDelete: 'set null' } },
          },
        },
        b: {
          owner: 'o',
          columns: {
            id: { type: 'text' },
            o: { type: 'text' },
            a_id: { type: 'text', references: { table: 'a' } },
          },
        },
      },
    });
    const table = (
      name: string,
      ref: string,
      parent: string,
      onDelete: 'set null' | 'restrict' | 'no action',
      deferred: boolean,
    ): ExistingTable => ({
      name,
      kind: 'r',
      columns: [column('id', 'text', true), column('o', 'text', true), column(ref, 'text')],
      primaryKey: ['id'],
      foreignKeys: [
        {
          name: `${name}_${ref}_fkey`,
          columns: [ref],
          parentSchema: 'app',
          parentTable: parent,
          parentColumns: ['id'],
          onDelete,
          deferrable: deferred,
          initiallyDeferred: deferred,
        },
      ],
      indexes: [],
    });
    expect(
      checkAdoption(
        schema,
        [table('a', 'b_id', 'b', 'set null', true), table('b', 'a_id', 'a', 'restrict', true)],
        'app',
      ),
    ).toEqual([]);
    expect(
      checkAdoption(
        schema,
        [table('a', 'b_id', 'b', 'set null', false), table('b', 'a_id', 'a', 'no action', true)],
        'app',
      ).map((m) => [m.kind, m.table]),
    ).toEqual([['reference_deferral', 'a']]);
  });

  it('writes a report with one line per mismatch', () => {
    const mismatches = checkAdoption(
      todoSchema,
      changed('todos', (t) =>
        withColumn(withColumn(t, 'done', { type: 'text' }), 'id', { type: 'text' }),
      ),
      'public',
    );
    expect(mismatchReport(mismatches, 'public')).toBe(
      `the existing tables in schema "public" do not fit the schema (2 mismatches); nothing was changed:
  - todos.id is text; the schema's uuid needs uuid
  - todos.done is text; the schema's boolean needs boolean`,
    );
  });
});

describe('indexesToBuild', () => {
  it('builds the owner and reference indexes a table lacks, and not one an index with the same leading columns covers', () => {
    expect(indexesToBuild(todoSchema, fitting())).toEqual([
      { table: 'lists', name: 'lists_owner_id_idx', columns: ['owner_id'], dropInvalid: false },
      { table: 'todos', name: 'todos_list_id_idx', columns: ['list_id'], dropInvalid: false },
    ]);
  });

  it('builds again an index an interrupted build left invalid', () => {
    const tables = changed('lists', (t) => ({
      ...t,
      indexes: [...t.indexes, { name: 'lists_owner_id_idx', columns: ['owner_id'], valid: false }],
    }));
    expect(indexesToBuild(todoSchema, tables)[0]).toEqual({
      table: 'lists',
      name: 'lists_owner_id_idx',
      columns: ['owner_id'],
      dropInvalid: true,
    });
  });
});

describe('adopting a table whose keys the server assigns', () => {
  const schema = defineSchema({
    tables: {
      orders: {
        owner: 'owner_id',
        keys: 'server',
        columns: { id: { type: 'integer' }, owner_id: { type: 'text' } },
      },
    },
  });
  const orders = (sequence: boolean): ExistingTable[] => [
    {
      name: 'orders',
      kind: 'r',
      columns: [
        { ...column('id', 'bigint', true, sequence), sequence },
        column('owner_id', 'text', true),
      ],
      primaryKey: ['id'],
      foreignKeys: [],
      indexes: [{ name: 'orders_pkey', columns: ['id'], valid: true }],
    },
  ];

  it('takes an integer key with a sequence (identity or serial), which new keys come from', () => {
    expect(checkAdoption(schema, orders(true), 'public')).toEqual([]);
  });

  it('reports an integer key without a sequence: the server would have nowhere to take keys from', () => {
    expect(checkAdoption(schema, orders(false), 'public')).toEqual([
      expect.objectContaining({ kind: 'missing_sequence', table: 'orders', column: 'id' }),
    ]);
  });
});

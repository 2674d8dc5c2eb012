import { describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import type { FrozenChange } from './metadata.js';
import { assignedKeysOf, pushedChanges, tablesOfRemap } from './remap-keys.js';

const schema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      keys: 'server',
      columns: { id: { type: 'integer' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    tasks: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        project_id: { type: 'integer', references: { table: 'projects' } },
      },
    },
  },
});

const change = (over: Partial<FrozenChange>): FrozenChange => ({
  ord: 0,
  tbl: 'projects',
  pk: 1,
  letter: 'I',
  op: 'upsert',
  baseVersion: null,
  base: null,
  row: null,
  firstGroup: 1,
  lastGroup: 1,
  firstAt: 0,
  conflicts: 0,
  ...over,
});

describe('pushedChanges', () => {
  it('puts the keys an answer to the bundle assigned back to the temporary keys it was pushed with', () => {
    const remapped = [
      change({ ord: 0, pk: 41, row: { id: 41, name: 'a' } }),
      change({ ord: 1, tbl: 'tasks', pk: 't1', row: { id: 't1', project_id: 41 } }),
    ];
    const pushed = pushedChanges(schema, remapped, [{ table: 'projects', temp: -7, pk: 41 }]);
    expect(pushed[0]).toMatchObject({ pk: -7, row: { id: -7, name: 'a' } });
    expect(pushed[1]).toMatchObject({ pk: 't1', row: { id: 't1', project_id: -7 } });
  });

  it('leaves an edit of a row the server had (a base version) and keys other bundles assigned alone', () => {
    const edits = [
      change({ ord: 0, pk: 41, baseVersion: 3, row: { id: 41, name: 'b' } }),
      change({ ord: 1, tbl: 'tasks', pk: 't1', row: { id: 't1', project_id: 40 } }),
    ];
    expect(pushedChanges(schema, edits, [{ table: 'projects', temp: -7, pk: 41 }])).toEqual([
      edits[0],
      edits[1],
    ]);
  });
});

describe('assignedKeysOf and tablesOfRemap', () => {
  it('reads the assigned keys from the effects that carry tempKey, and names the tables that reference them', () => {
    const keys = assignedKeysOf([
      { table: 'projects', pk: 41, op: 'upsert', rowVersion: 1, row: { id: 41 }, tempKey: -7 },
      { table: 'tasks', pk: 't1', op: 'upsert', rowVersion: 1, row: { id: 't1' } },
      { table: 'projects', pk: 2, op: 'delete', rowVersion: 3, row: null },
    ]);
    expect(keys).toEqual([{ table: 'projects', temp: -7, pk: 41 }]);
    expect(tablesOfRemap(schema, keys).sort()).toEqual(['projects', 'tasks']);
  });
});

import { describe, expect, it } from 'vitest';
import { todoHistory, todoSchema, todoV3 } from '@ferry/example-todo';
import { defineSchema } from '@ferry/protocol';
import { decideStoredSchema } from './stored-schema.js';

describe('the schema version a database holds', () => {
  it('is empty, a version of the history, ahead of it, or foreign', () => {
    expect(decideStoredSchema({ fingerprint: undefined, version: undefined }, todoHistory)).toEqual(
      { kind: 'empty' },
    );
    expect(
      decideStoredSchema({ fingerprint: todoV3.fingerprint, version: '3' }, todoHistory),
    ).toEqual({ kind: 'version', schema: todoV3 });
    // A database from before versions has a fingerprint and no version: version 1.
    expect(
      decideStoredSchema({ fingerprint: todoSchema.fingerprint, version: undefined }, todoHistory),
    ).toEqual({ kind: 'version', schema: todoSchema });
    const newer = defineSchema({ ...todoV3.declaration, version: 9 });
    expect(
      decideStoredSchema({ fingerprint: newer.fingerprint, version: '9' }, todoHistory),
    ).toEqual({ kind: 'ahead', version: 9, latest: 5 });
    expect(decideStoredSchema({ fingerprint: 'f00', version: '2' }, todoHistory)).toEqual({
      kind: 'foreign',
      fingerprint: 'f00',
    });
  });
});

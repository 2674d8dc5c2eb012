import { describe, expect, it } from 'vitest';
import { BUILTIN_RESOLVERS, defineSchema, type ConflictResolver } from '@ferry/protocol';
import { createResolverLookup } from './resolver-lookup.js';

const table = (conflictPolicy?: string) => ({
  owner: 'o',
  ...(conflictPolicy === undefined ? {} : { conflictPolicy }),
  columns: { id: { type: 'uuid' as const }, o: { type: 'text' as const } },
});
const schema = defineSchema({
  tables: { plain: table(), strict: table('server-wins'), named: table('newest') },
});
const newest: ConflictResolver = () => ({ kind: 'adopt-server' });
const own: ConflictResolver = () => ({ kind: 'rebase', row: null });

describe('createResolverLookup', () => {
  it('names the rule that settles each table, for the journal of settled conflicts', () => {
    const lookup = createResolverLookup(schema, { newest, plain: own });
    expect(lookup('plain')).toEqual({ resolver: own, rule: 'custom' });
    expect(lookup('strict')).toEqual({
      resolver: BUILTIN_RESOLVERS['server-wins'],
      rule: 'server-wins',
    });
    expect(lookup('named')).toEqual({ resolver: newest, rule: 'newest' });
    expect(createResolverLookup(schema, { newest })('plain')).toEqual({
      resolver: BUILTIN_RESOLVERS['field-merge'],
      rule: 'field-merge',
    });
    expect(createResolverLookup(schema, { newest, strict: 'client-wins' })('strict').rule).toBe(
      'client-wins',
    );
  });

  it('refuses a custom policy with no resolver function', () => {
    expect(() => createResolverLookup(schema)).toThrow(/"newest", which is neither built in/);
  });
});

import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERRORS } from './errors.js';
import {
  ChangeSchema,
  ErrorBodySchema,
  PushRequestSchema,
  SyncRequestSchema,
  parsePullQuery,
} from './wire.js';

describe('wire schemas', () => {
  it('accepts the changes of protocol.md', () => {
    expect(
      ChangeSchema.safeParse({
        table: 'todos',
        pk: 'x',
        op: 'upsert',
        baseVersion: 3,
        row: { id: 'x' },
      }).success,
    ).toBe(true);
    expect(
      ChangeSchema.safeParse({ table: 'todos', pk: 'x', op: 'delete', baseVersion: null }).success,
    ).toBe(true);
  });

  it.each([
    ['an unknown op', { table: 't', pk: 'x', op: 'merge', baseVersion: null }],
    ['an upsert without row', { table: 't', pk: 'x', op: 'upsert', baseVersion: null }],
    ['a zero baseVersion', { table: 't', pk: 'x', op: 'delete', baseVersion: 0 }],
    ['a missing baseVersion', { table: 't', pk: 'x', op: 'delete' }],
    ['a fractional pk', { table: 't', pk: 1.5, op: 'delete', baseVersion: null }],
  ])('rejects %s', (_name, change) => {
    expect(ChangeSchema.safeParse(change).success).toBe(false);
  });

  it('rejects an unknown protocol version and a non-UUID source', () => {
    const push = {
      protocol: 1,
      sourceId: '0b7e2e52-5b8e-4b7c-9a56-2f0b8e4f9a10',
      sourceBundleId: 1,
      changes: [],
    };
    expect(PushRequestSchema.safeParse(push).success).toBe(true);
    expect(PushRequestSchema.safeParse({ ...push, protocol: 2 }).success).toBe(false);
    expect(PushRequestSchema.safeParse({ ...push, sourceId: 'device-1' }).success).toBe(false);
    expect(
      SyncRequestSchema.safeParse({ protocol: 1, sourceId: push.sourceId, push: null, after: 0 })
        .success,
    ).toBe(true);
  });

  it('knows every error code of the table', () => {
    for (const code of Object.keys(PROTOCOL_ERRORS)) {
      expect(ErrorBodySchema.safeParse({ error: { code, message: 'm' } }).success).toBe(true);
    }
    expect(ErrorBodySchema.safeParse({ error: { code: 'nope', message: 'm' } }).success).toBe(
      false,
    );
  });
});

describe('parsePullQuery', () => {
  it('defaults, clamps and rejects', () => {
    expect(parsePullQuery(new URLSearchParams(''))).toEqual({
      ok: true,
      query: { after: 0, limit: 5000 },
    });
    expect(parsePullQuery(new URLSearchParams('after=7&limit=999999'), 10_000)).toEqual({
      ok: true,
      query: { after: 7, limit: 10_000 },
    });
    expect(parsePullQuery(new URLSearchParams('after=-1')).ok).toBe(false);
    expect(parsePullQuery(new URLSearchParams('after=1&limit=0')).ok).toBe(false);
    expect(parsePullQuery(new URLSearchParams('after=abc')).ok).toBe(false);
  });
});

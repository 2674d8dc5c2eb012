import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERRORS } from './errors.js';
import {
  ChangeSchema,
  ErrorBodySchema,
  PushRequestSchema,
  SyncRequestSchema,
  bundleDigest,
  canonicalJson,
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

describe('bundle digests', () => {
  const change = {
    table: 'todos',
    pk: 'x',
    op: 'upsert',
    baseVersion: 3,
    row: { title: 'milk', done: false },
  };

  it('do not depend on the order of object keys', () => {
    const reordered = {
      row: { done: false, title: 'milk' },
      op: 'upsert',
      baseVersion: 3,
      pk: 'x',
      table: 'todos',
    };
    expect(bundleDigest([reordered])).toBe(bundleDigest([change]));
  });

  it('differ when any value of any change differs', () => {
    const digest = bundleDigest([change]);
    expect(bundleDigest([{ ...change, baseVersion: 4 }])).not.toBe(digest);
    expect(bundleDigest([{ ...change, row: { title: 'milk', done: true } }])).not.toBe(digest);
    expect(bundleDigest([change, change])).not.toBe(digest);
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    // The well-known sha-256 of the canonical JSON text, not something of our own making.
    expect(bundleDigest([])).toBe(
      '4f53cda18c2baa0c0354bb5f9a3ecbe5ed12ab4d8e11ba873c2f11161202b945',
    );
  });

  it('are taken over canonical JSON: sorted keys, no whitespace, undefined members left out', () => {
    expect(canonicalJson({ b: 1, a: [null, { d: undefined, c: 'x' }] })).toBe(
      '{"a":[null,{"c":"x"}],"b":1}',
    );
  });
});

describe('pull queries with a history token', () => {
  it('keep the token the client sent and refuse a malformed one', () => {
    const parsed = parsePullQuery(new URLSearchParams('after=4&token=abc'));
    expect(parsed).toEqual({ ok: true, query: { after: 4, limit: 5_000, token: 'abc' } });
    expect(parsePullQuery(new URLSearchParams(`after=4&token=${'x'.repeat(129)}`)).ok).toBe(false);
  });
});

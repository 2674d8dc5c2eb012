import { describe, expect, it } from 'vitest';
import { PROTOCOL_ERRORS } from './errors.js';
import {
  ForbiddenDetailsSchema,
  ChangeSchema,
  ErrorBodySchema,
  PushRequestSchema,
  SyncRequestSchema,
  bundleDigest,
  createBundleDigest,
  canonicalJson,
  parsePullQuery,
  parseSnapshotQuery,
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

  it("reads a 403's refused changes with and without the server rules' code and message", () => {
    const changes = [
      { index: 0, table: 'lists', pk: 'a' },
      { index: 1, table: 'todos', pk: 'b', hook: 'validate', hookCode: 'x_y', message: 'no' },
    ];
    expect(ForbiddenDetailsSchema.parse({ changes })).toEqual({ changes });
    expect(
      ForbiddenDetailsSchema.safeParse({ changes: [{ ...changes[1], hook: 'beforeSave' }] })
        .success,
    ).toBe(false);
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

describe('parseSnapshotQuery', () => {
  const parse = (query: string) => parseSnapshotQuery(new URLSearchParams(query));

  it('takes no cursor, a checkpoint, or a checkpoint with its token', () => {
    expect(parse('')).toEqual({ ok: true, query: {} });
    expect(parse('after=7')).toEqual({ ok: true, query: { after: 7 } });
    expect(parse(`after=7&token=${'a'.repeat(64)}`)).toEqual({
      ok: true,
      query: { after: 7, token: 'a'.repeat(64) },
    });
  });

  it('refuses a malformed checkpoint, a token without one, and a malformed token', () => {
    for (const query of ['after=-1', 'after=abc', 'after=1.5', 'token=abc', 'after=1&token=']) {
      expect(parse(query).ok, query).toBe(false);
    }
    expect(parse(`after=1&token=${'a'.repeat(129)}`).ok).toBe(false);
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

  it('gives the same digest built a run of changes at a time as in one call', () => {
    const changes = [
      {
        table: 'todos',
        pk: 'a',
        op: 'upsert',
        baseVersion: null,
        row: { title: 'x', done: false },
      },
      { table: 'todos', pk: 'b', op: 'delete', baseVersion: 3 },
      {
        table: 'notes',
        pk: 7,
        op: 'upsert',
        baseVersion: 1,
        row: Object.fromEntries(Array.from({ length: 80 }, (_, k) => [`k${79 - k}`, k])),
      },
    ];
    for (let n = 0; n <= changes.length; n++) {
      for (let run = 1; run <= 2; run++) {
        const builder = createBundleDigest();
        for (let i = 0; i < n; i += run) builder.add(changes.slice(i, Math.min(n, i + run)));
        builder.add([]);
        expect(builder.finish()).toBe(bundleDigest(changes.slice(0, n)));
      }
    }
  });

  it('are taken over canonical JSON: sorted keys, no whitespace, undefined members left out', () => {
    expect(canonicalJson({ b: 1, a: [null, { d: undefined, c: 'x' }] })).toBe(
      '{"a":[null,{"c":"x"}],"b":1}',
    );
  });

  it('are taken over the same text as the plain definition of canonical JSON, for any value', () => {
    // The definition, written for clarity: a sorted copy of every object, then JSON.
    const spec = (value: unknown): string => {
      if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
      if (Array.isArray(value)) return `[${value.map((v) => spec(v ?? null)).join(',')}]`;
      const entries = Object.entries(value as Record<string, unknown>)
        .filter(([, v]) => v !== undefined)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${spec(v)}`).join(',')}}`;
    };
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    let state = seed;
    const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const keys = ['a', 'b', 'B', 'é', 'aa', '10', '9', '', 'z\u0000', '😀', '\ud83d'];
    // More distinct keys than one property list takes (the other way of writing it).
    const wideObject = () =>
      Object.fromEntries(
        Array.from({ length: 80 }, (_, i) => [`k${80 - i}`, i % 3 === 0 ? [i] : i]),
      );
    const valueOf = (depth: number): unknown => {
      const pick = Math.floor(random() * (depth > 3 ? 7 : 9));
      if (pick === 0) return null;
      if (pick === 1) return undefined;
      if (pick === 2) return random() < 0.5;
      if (pick === 3) return [0, -0, 1.5, 1e21, -7, NaN, Infinity][Math.floor(random() * 7)];
      if (pick === 4) return keys[Math.floor(random() * keys.length)]! + '"\\\n';
      if (pick === 5) return Math.floor(random() * 1e9);
      if (pick === 6) return random() < 0.9 ? 'todo' : { at: new Date(0), wide: wideObject() };
      if (pick === 7)
        return Array.from({ length: Math.floor(random() * 4) }, () => valueOf(depth + 1));
      const object: Record<string, unknown> = {};
      for (let i = Math.floor(random() * 5); i > 0; i--) {
        object[keys[Math.floor(random() * keys.length)]!] = valueOf(depth + 1);
      }
      return object;
    };
    for (let i = 0; i < 2_000; i++) {
      const value = valueOf(0);
      expect(canonicalJson(value), `seed ${seed}, value ${i}`).toBe(spec(value));
    }
  });
});

describe('pull queries with a history token', () => {
  it('keep the token the client sent and refuse a malformed one', () => {
    const parsed = parsePullQuery(new URLSearchParams('after=4&token=abc'));
    expect(parsed).toEqual({ ok: true, query: { after: 4, limit: 5_000, token: 'abc' } });
    expect(parsePullQuery(new URLSearchParams(`after=4&token=${'x'.repeat(129)}`)).ok).toBe(false);
  });
});

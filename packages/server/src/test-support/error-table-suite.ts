/* The error-table suite, shared by the SQLite (ferry-server.errors.test.ts) and PostgreSQL
 * (ferry-server.errors.pg.test.ts) runs. */
import { randomUUID } from 'node:crypto';
import { SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BundleErrorDetailsSchema,
  CursorUnknownDetailsSchema,
  ErrorBodySchema,
  ForbiddenDetailsSchema,
} from '@ferry/protocol';
import { signToken } from '../auth.js';
import {
  TEST_SECRET,
  pushBody,
  startTestServer,
  todo,
  type TestServer,
  type TestStoreKind,
} from './harness.js';

const ALICE = 'alice';
const BOB = 'bob';

/** Seed state every case starts from: Alice has a list with a todo; Bob has a list. */
export async function seed(t: TestServer) {
  const aliceSource = randomUUID();
  const list = todo.list();
  const item = todo.item(list.pk as string);
  const bobList = todo.list();
  expect(
    (
      await t.request('/v1/push', {
        method: 'POST',
        user: ALICE,
        json: pushBody(aliceSource, 1, [list, item]),
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await t.request('/v1/push', {
        method: 'POST',
        user: BOB,
        json: pushBody(randomUUID(), 1, [bobList]),
      })
    ).status,
  ).toBe(200);
  return { aliceSource, list, item, bobList };
}

const cursorDetails = (body: Record<string, unknown>) =>
  CursorUnknownDetailsSchema.parse((body.error as { details: unknown }).details);

const unsigned = (payload: object) =>
  `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

/**
 * Every row of the protocol's error table, in-process and over real HTTP, each with the state
 * proven unchanged afterwards, on the given store.
 */
export function describeErrorTable(store: TestStoreKind): void {
  describe.each([
    ['in-process', false],
    ['over HTTP on 127.0.0.1', true],
  ])(`every row of the error table (%s, ${store})`, (_where, http) => {
    let t: TestServer;
    let s: Awaited<ReturnType<typeof seed>>;
    beforeAll(async () => {
      t = await startTestServer({
        store,
        http,
        limits: { maxBodyBytes: 64 * 1024, maxChanges: 100, rateLimit: false },
      });
      s = await seed(t);
    });
    afterAll(() => t.close());

    type Case = {
      name: string;
      status: number;
      code: string;
      request: () => Promise<Response>;
      check?: (body: Record<string, unknown>, response: Response) => void;
    };
    const push = (json: unknown, user = ALICE) =>
      t.request('/v1/push', { method: 'POST', user, json });
    // A sync of alice's next bundle (one new list) with the given cursor fields.
    const syncPushing = (cursor: Record<string, unknown>) =>
      t.request('/v1/sync', {
        method: 'POST',
        user: ALICE,
        json: {
          protocol: 1,
          sourceId: s.aliceSource,
          push: { sourceBundleId: 2, changes: [todo.list()] },
          ...cursor,
        },
      });
    const raw = (body: string, headers: Record<string, string> = {}) =>
      t.request('/v1/push', {
        method: 'POST',
        user: ALICE,
        body,
        headers: { 'content-type': 'application/json', ...headers },
      });
    const withToken = (token: string) =>
      t.request('/v1/push', {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify(pushBody(randomUUID(), 1, [todo.list()])),
      });
    const invalid = (change: object, code: string, column?: string): Case => ({
      name: `422 ${code}`,
      status: 422,
      code: 'validation_failed',
      request: () => push(pushBody(s.aliceSource, 2, [todo.list(), change as never])),
      check: (body) => {
        const errors = (body.error as { details: { errors: unknown[] } }).details.errors;
        expect(errors).toEqual([
          expect.objectContaining({ index: 1, code, ...(column ? { column } : {}) }),
        ]);
      },
    });

    const cases: Case[] = [
      {
        name: '400 malformed JSON',
        status: 400,
        code: 'bad_request',
        request: () => raw('{"protocol": 1,'),
      },
      {
        name: '400 missing fields',
        status: 400,
        code: 'bad_request',
        request: () => push({ protocol: 1, sourceId: randomUUID() }),
      },
      {
        name: '400 wrong field types',
        status: 400,
        code: 'bad_request',
        request: () => push({ ...pushBody(randomUUID(), 1, []), sourceBundleId: '1' }),
      },
      {
        name: '400 unknown protocol',
        status: 400,
        code: 'bad_request',
        request: () => push({ ...pushBody(randomUUID(), 1, []), protocol: 2 }),
      },
      {
        name: '400 malformed pull query',
        status: 400,
        code: 'bad_request',
        request: () => t.request('/v1/pull?after=-1', { user: ALICE }),
      },
      { name: '400 empty body', status: 400, code: 'bad_request', request: () => raw('') },
      {
        name: '401 no token',
        status: 401,
        code: 'unauthorized',
        request: () =>
          t.request('/v1/push', { method: 'POST', json: pushBody(randomUUID(), 1, [todo.list()]) }),
      },
      {
        name: '401 bad signature',
        status: 401,
        code: 'unauthorized',
        request: async () =>
          withToken(await signToken({ secret: 'another-secret-another-secret-!!', userId: ALICE })),
      },
      {
        name: '401 expired',
        status: 401,
        code: 'unauthorized',
        request: async () =>
          withToken(await signToken({ secret: TEST_SECRET, userId: ALICE, expiresInSeconds: -60 })),
      },
      {
        name: '401 not valid yet',
        status: 401,
        code: 'unauthorized',
        request: async () =>
          withToken(await signToken({ secret: TEST_SECRET, userId: ALICE, notBeforeSeconds: 60 })),
      },
      {
        name: '401 alg none',
        status: 401,
        code: 'unauthorized',
        request: () => withToken(unsigned({ sub: ALICE, exp: Math.floor(Date.now() / 1000) + 60 })),
      },
      {
        name: '401 missing sub',
        status: 401,
        code: 'unauthorized',
        request: async () =>
          withToken(
            await new SignJWT({})
              .setProtectedHeader({ alg: 'HS256' })
              .setExpirationTime('1h')
              .sign(new TextEncoder().encode(TEST_SECRET)),
          ),
      },
      {
        name: '401 malformed header',
        status: 401,
        code: 'unauthorized',
        request: () => t.request('/v1/pull', { headers: { authorization: 'Basic abc' } }),
      },
      {
        name: '403 forbidden',
        status: 403,
        code: 'forbidden',
        request: () =>
          push(
            pushBody(s.aliceSource, 2, [todo.list(), todo.list(s.bobList.pk as string, 'mine', 1)]),
          ),
        check: (body) => {
          const details = ForbiddenDetailsSchema.parse(
            (body.error as { details: unknown }).details,
          );
          expect(details).toEqual({ changes: [{ index: 1, table: 'lists', pk: s.bobList.pk }] });
          expect(JSON.stringify(body)).not.toContain('Groceries');
        },
      },
      {
        name: '409 conflict',
        status: 409,
        code: 'conflict',
        request: () =>
          push(pushBody(s.aliceSource, 2, [todo.list(s.list.pk as string, 'x', null)])),
        check: (body) => {
          expect(body.conflicts).toEqual([
            expect.objectContaining({ index: 0, serverVersion: 1, serverDeleted: false }),
          ]);
          // The head the conflicts were judged on: alice's last bundle and its token.
          const head = body.head as { bundleSeq: number; token: string };
          expect(head.bundleSeq).toBe(1);
          expect(head.token).toMatch(/^[0-9a-f]{64}$/);
        },
      },
      {
        name: '409 bundle_gap',
        status: 409,
        code: 'bundle_gap',
        request: () => push(pushBody(s.aliceSource, 5, [todo.list()])),
        check: (body) =>
          expect((body.error as { details: unknown }).details).toEqual({ lastCommitted: 1 }),
      },
      {
        name: '409 stale_bundle',
        status: 409,
        code: 'stale_bundle',
        request: async () => {
          const source = randomUUID();
          await push(pushBody(source, 1, []));
          await push(pushBody(source, 2, []));
          return push(pushBody(source, 1, [todo.list()]));
        },
        check: (body) =>
          expect((body.error as { details: unknown }).details).toEqual({ lastCommitted: 2 }),
      },
      {
        name: '409 bundle_mismatch',
        status: 409,
        code: 'bundle_mismatch',
        // Another install's bundle #1 under the same sourceId: not a retry of the committed one.
        request: () => push(pushBody(s.aliceSource, 1, [todo.list()])),
        check: (body) => {
          const error = body.error as { message: string; details: unknown };
          expect(BundleErrorDetailsSchema.parse(error.details)).toEqual({ lastCommitted: 1 });
          expect(error.message).toContain('another install seems to share this sourceId');
        },
      },
      {
        name: '409 bundle_mismatch (sync, nothing committed)',
        status: 409,
        code: 'bundle_mismatch',
        request: () =>
          t.request('/v1/sync', {
            method: 'POST',
            user: ALICE,
            json: {
              protocol: 1,
              sourceId: s.aliceSource,
              push: { sourceBundleId: 1, changes: [] },
              after: 0,
            },
          }),
        check: (body) =>
          expect((body.error as { details: unknown }).details).toEqual({ lastCommitted: 1 }),
      },
      {
        name: '410 cursor_unknown (pull)',
        status: 410,
        code: 'cursor_unknown',
        request: () => t.request('/v1/pull?after=999', { user: ALICE }),
        check: (body) => expect(cursorDetails(body)).toEqual({ reason: 'ahead' }),
      },
      {
        name: '410 cursor_unknown (sync, push not committed)',
        status: 410,
        code: 'cursor_unknown',
        request: () => syncPushing({ after: 999 }),
        check: (body) => expect(cursorDetails(body)).toEqual({ reason: 'ahead' }),
      },
      {
        name: '410 cursor_unknown history_diverged (pull)',
        status: 410,
        code: 'cursor_unknown',
        // A token of another history for bundle 1 (a client of a server restored from a backup).
        request: () => t.request(`/v1/pull?after=1&token=${'0'.repeat(64)}`, { user: ALICE }),
        check: (body) => expect(cursorDetails(body)).toEqual({ reason: 'history_diverged' }),
      },
      {
        name: '410 cursor_unknown history_diverged (sync, push not committed)',
        status: 410,
        code: 'cursor_unknown',
        request: () => syncPushing({ after: 1, afterToken: '0'.repeat(64) }),
        check: (body) => expect(cursorDetails(body)).toEqual({ reason: 'history_diverged' }),
      },
      {
        name: '410 cursor_unknown history_diverged for basesAt (push not committed)',
        status: 410,
        code: 'cursor_unknown',
        // The checkpoint is on the history; the point a conflict answer gave is another's.
        request: () =>
          push({
            ...pushBody(s.aliceSource, 2, [todo.list()]),
            after: 0,
            basesAt: { bundleSeq: 1, token: '0'.repeat(64) },
          }),
        check: (body) =>
          expect(cursorDetails(body)).toEqual({ reason: 'history_diverged', point: 'bases' }),
      },
      {
        name: '410 cursor_unknown ahead for basesAt (sync, push not committed)',
        status: 410,
        code: 'cursor_unknown',
        request: () =>
          syncPushing({ after: 1, basesAt: { bundleSeq: 999, token: 'a'.repeat(64) } }),
        check: (body) => expect(cursorDetails(body)).toEqual({ reason: 'ahead', point: 'bases' }),
      },
      {
        name: '400 malformed history token',
        status: 400,
        code: 'bad_request',
        request: () => t.request(`/v1/pull?after=1&token=${'x'.repeat(129)}`, { user: ALICE }),
      },
      {
        name: '413 body over the limit',
        status: 413,
        code: 'payload_too_large',
        request: () =>
          push(
            pushBody(
              s.aliceSource,
              2,
              [todo.list(undefined, 'x'.repeat(200))].concat(
                Array.from({ length: 3000 }, () => todo.list()),
              ),
            ),
          ),
      },
      {
        name: '413 more changes than the limit',
        status: 413,
        code: 'payload_too_large',
        request: () =>
          push(
            pushBody(
              s.aliceSource,
              2,
              Array.from({ length: 101 }, () => todo.list()),
            ),
          ),
      },
      invalid({ table: 'nope', pk: 'x', op: 'delete', baseVersion: null }, 'unknown_table'),
      (() => {
        const list = todo.list() as { row: object };
        return invalid({ ...list, row: { ...list.row, color: 'red' } }, 'unknown_column', 'color');
      })(),
      invalid({ ...todo.list(), pk: 'not-a-uuid' }, 'type_mismatch', 'id'),
      invalid(todo.item(randomUUID(), undefined, 'x'), 'fk_violation', 'list_id'),
      (() => {
        const id = randomUUID();
        return invalid(
          { table: 'lists', pk: id, op: 'upsert', baseVersion: null, row: { id, name: null } },
          'not_null',
          'name',
        );
      })(),
      invalid(todo.list(undefined, 'x'.repeat(201)), 'too_long', 'name'),
      (() => {
        const id = randomUUID();
        return invalid(
          {
            table: 'lists',
            pk: id,
            op: 'upsert',
            baseVersion: null,
            row: { id, name: 'x', owner_id: BOB },
          },
          'owner_mismatch',
          'owner_id',
        );
      })(),
      {
        name: '422 duplicate_change',
        status: 422,
        code: 'validation_failed',
        request: () => {
          const list = todo.list();
          return push(pushBody(s.aliceSource, 2, [list, todo.list(list.pk as string, 'again')]));
        },
        check: (body) =>
          expect((body.error as { details: { errors: unknown[] } }).details.errors).toEqual([
            expect.objectContaining({ index: 1, code: 'duplicate_change' }),
          ]),
      },
      {
        name: '409 schema_ahead (a client newer than the server, nothing committed)',
        status: 409,
        code: 'schema_ahead',
        request: () =>
          t.request('/v1/push', {
            method: 'POST',
            user: ALICE,
            headers: { 'x-ferry-schema': '2' },
            json: pushBody(s.aliceSource, 2, [todo.list()]),
          }),
        check: (body, response) => {
          expect((body.error as { details: unknown }).details).toEqual({
            clientVersion: 2,
            serverVersion: 1,
          });
          expect(response.headers.get('retry-after')).toBe('300');
        },
      },
      {
        name: '409 schema_ahead on a pull',
        status: 409,
        code: 'schema_ahead',
        request: () =>
          t.request('/v1/pull?after=0', { user: ALICE, headers: { 'x-ferry-schema': '7' } }),
      },
      {
        name: '400 a schema version that is no number',
        status: 400,
        code: 'bad_request',
        request: () =>
          t.request('/v1/pull?after=0', { user: ALICE, headers: { 'x-ferry-schema': 'v1' } }),
      },
      {
        name: '404 unknown route',
        status: 404,
        code: 'not_found',
        request: () => t.request('/v1/nope', { user: ALICE }),
      },
      {
        name: '401 before 404 on an unknown /v1 route',
        status: 401,
        code: 'unauthorized',
        request: () => t.request('/v1/nope'),
      },
      {
        name: '405 wrong method',
        status: 405,
        code: 'method_not_allowed',
        request: () => t.request('/v1/push', { user: ALICE }),
      },
    ];

    it.each(cases)('$name, and the state is unchanged', async (c) => {
      const before = await t.dumpState();
      const response = await c.request();
      const body = (await response.json()) as Record<string, unknown>;
      expect(response.status).toBe(c.status);
      expect(ErrorBodySchema.parse(body).error.code).toBe(c.code);
      c.check?.(body, response);
      if (c.name !== '409 stale_bundle') expect(await t.dumpState()).toBe(before);
    });
  });
}

import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { signToken } from '@ferry/server';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  testSchemas,
} from '../../../server/src/store/postgres/test-support/pg-test-database.js';
import { makeHandMadeTodoTables } from '../../../server/src/store/postgres/test-support/hand-made-tables.js';
import { runServe, startServe } from './serve.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePg('ferry serve --postgres', () => {
  it('serves protocol v1 on PostgreSQL, tables in the connection’s schema, metadata in --pg-schema', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    await adminQuery(`CREATE SCHEMA "${schemas.business}"`);
    const url = new URL(DATABASE_URL);
    url.password = 'not-a-real-password';
    url.searchParams.set('options', `-c search_path=${schemas.business}`);
    const out: string[] = [];
    const secret = 'a-configured-secret-for-the-pg-test';
    const running = await startServe(
      {
        host: '127.0.0.1',
        port: 0,
        data: './unused',
        postgres: url.toString(),
        pgSchema: schemas.meta,
        schema: undefined,
      },
      { out: (l) => out.push(l), err: (l) => out.push(l), env: { FERRY_JWT_SECRET: secret } },
      false,
    );
    cleanups.push(() => running.stop());
    expect(out.join('\n')).toContain(`store:  PostgreSQL at`);
    expect(out.join('\n')).toContain(`schema "${schemas.meta}"`);
    expect(out.join('\n')).not.toContain('not-a-real-password');

    const token = await signToken({ secret, userId: 'alice' });
    const id = randomUUID();
    const push = await fetch(`${running.url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        protocol: 1,
        sourceId: randomUUID(),
        sourceBundleId: 1,
        changes: [
          { table: 'lists', pk: id, op: 'upsert', baseVersion: null, row: { id, name: 'pg' } },
        ],
      }),
    });
    expect(push.status).toBe(200);
    const rows = await adminQuery(`SELECT name, owner_id FROM "${schemas.business}".lists`);
    expect(rows).toEqual([{ name: 'pg', owner_id: 'alice' }]);
    const pull = await fetch(`${running.url}/v1/pull?after=0`, {
      headers: { authorization: `Bearer ${token}` },
    });
    expect(await pull.json()).toMatchObject({ stableBundleSeq: 1, bundles: [{ bundleSeq: 1 }] });
  });

  it('--adopt serves the rows of tables made by plain SQL, saying how the adoption goes', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    await makeHandMadeTodoTables(schemas.business, { users: 1, lists: 3, todosPerList: 2 });
    const url = new URL(DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${schemas.business}`);
    const out: string[] = [];
    const err: string[] = [];
    const secret = 'a-configured-secret-for-the-adopt-test';
    const running = await startServe(
      {
        host: '127.0.0.1',
        port: 0,
        data: './unused',
        postgres: url.toString(),
        pgSchema: schemas.meta,
        adopt: true,
        schema: undefined,
        app: false,
      },
      { out: (l) => out.push(l), err: (l) => err.push(l), env: { FERRY_JWT_SECRET: secret } },
      false,
    );
    cleanups.push(() => running.stop());
    // todos.list_id has an index already (todos_by_list starts with it).
    expect(err).toEqual([
      'ferry serve: adopting: built index lists_owner_id_idx on lists',
      'ferry serve: adopting: built index todos_owner_id_idx on todos',
      'ferry serve: adopting: lists, 3 rows given their sync state',
      'ferry serve: adopting: todos, 6 rows given their sync state',
      'ferry serve: adopting: 1 users given their first bundle',
    ]);
    const token = await signToken({ secret, userId: 'user-0' });
    const snapshot = await fetch(`${running.url}/v1/snapshot`, {
      headers: { authorization: `Bearer ${token}` },
    });
    const lines = (await snapshot.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as unknown);
    expect(lines[0]).toMatchObject({ snapshotBundleSeq: 1 });
    expect(lines.at(-1)).toEqual({ end: true, rowCount: 9 });
  });

  it('--adopt prints every mismatch and exits 1 when the tables do not fit, changing nothing', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    await makeHandMadeTodoTables(schemas.business, { users: 1, lists: 1, todosPerList: 0 });
    await adminQuery(`ALTER TABLE "${schemas.business}".todos DROP COLUMN done`);
    const url = new URL(DATABASE_URL);
    url.searchParams.set('options', `-c search_path=${schemas.business}`);
    const err: string[] = [];
    const status = await runServe(
      [
        '--port',
        '0',
        '--postgres',
        url.toString(),
        '--pg-schema',
        schemas.meta,
        '--adopt',
        '--no-app',
      ],
      { out: () => undefined, err: (l) => err.push(l), env: { FERRY_JWT_SECRET: 'x'.repeat(32) } },
    );
    expect(status).toBe(1);
    expect(err.join('\n')).toBe(
      `ferry serve: the existing tables in schema "${schemas.business}" do not fit the schema (1 mismatch); nothing was changed:
  - column todos.done does not exist (boolean NOT NULL)`,
    );
    const meta = await adminQuery('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schemas.meta]);
    expect(meta).toEqual([]);
  });
});

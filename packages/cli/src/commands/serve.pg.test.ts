import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { signToken } from '@ferry/server';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  testSchemas,
} from '../../../server/src/store/postgres/test-support/pg-test-database.js';
import { startServe } from './serve.js';

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
});

/** Counters and append-only tables end to end over HTTP on the PostgreSQL store. */
import { afterEach, it } from 'vitest';
import { createPostgresStore } from '@ferry/server/postgres';
import {
  DATABASE_URL,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import {
  appendOnlyRows,
  countersConverge,
  manualClientKeepsIncrements,
  shopSchema,
  type ShopSchema,
} from '../support/counters-scenario.js';

let h: Harness<ShopSchema> | undefined;
let schemas = testSchemas();
afterEach(async () => {
  await h?.close();
  await schemas.drop();
  schemas = testSchemas();
});

const onPostgres = () =>
  startHarness<ShopSchema>({
    schema: shopSchema,
    store: () =>
      createPostgresStore({
        connectionString: DATABASE_URL,
        schemaName: schemas.meta,
        businessSchema: schemas.business,
        pool: { max: 4 },
      }),
  });

describePg('counters and append-only tables on PostgreSQL', () => {
  it('three devices that add to one counter offline, in flight and across a merge end with the first value plus every increment', async () => {
    h = await onPostgres();
    await countersConverge(h);
  });

  it('an append-only table takes inserts and deletes and refuses an update at the write', async () => {
    h = await onPostgres();
    await appendOnlyRows(h);
  });

  it('a manual conflict settled with the local row keeps both devices’ increments', async () => {
    h = await onPostgres();
    await manualClientKeepsIncrements(h);
  });
});

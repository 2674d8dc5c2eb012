/**
 * The five schema versions of the example on one server on PostgreSQL, end to end over HTTP: the
 * server migrates its database from version 1 to 5 under running devices of every version.
 */
import { afterEach, it } from 'vitest';
import type { Schema } from '@ferry/protocol';
import { todoSchema } from '@ferry/example-todo';
import { createPostgresStore } from '@ferry/server/postgres';
import {
  DATABASE_URL,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import { fiveVersionsOnOneServer } from '../support/five-versions.js';

let h: Harness<Schema> | undefined;
const schemas = testSchemas();
afterEach(async () => {
  await h?.close();
  await schemas.drop();
});

describePg('clients of five schema versions on one server on PostgreSQL', () => {
  it('read and write the same data in their own shape while the server migrates under them, and no column is reset', async () => {
    h = await startHarness<Schema>({
      schema: todoSchema,
      store: () =>
        createPostgresStore({
          connectionString: DATABASE_URL,
          schemaName: schemas.meta,
          businessSchema: schemas.business,
          pool: { max: 4 },
        }),
    });
    await fiveVersionsOnOneServer(h);
  });
});

/** The contract-suite factory of the PostgreSQL store: fresh schemas per test, dropped after. */
import pg from 'pg';
import { todoSchema } from '@ferry/example-todo';
import type {
  ExternalWriter,
  StoreFactory,
  StoreTestOptions,
  StoreUnderTest,
} from '../../../test-support/store-contract.js';
import { createPostgresStore } from '../postgres-store.js';
import { DATABASE_URL, pgClientConfig, testSchemas, type TestSchemas } from './pg-test-database.js';

/** Plain SQL through a connection of its own, as psql or another service would write. */
function pgWriter(business: string): ExternalWriter {
  const run = async (sql: string, ...params: unknown[]) => {
    const client = new pg.Client(pgClientConfig());
    client.on('error', () => undefined);
    await client.connect();
    try {
      await client.query(`SET search_path = "${business}"`);
      await client.query(sql, params);
    } finally {
      await client.end();
    }
  };
  return {
    insertList: (id, owner, name) =>
      run('INSERT INTO lists (id, owner_id, name) VALUES ($1, $2, $3)', id, owner, name),
    renameList: (id, name) => run('UPDATE lists SET name = $2 WHERE id = $1', id, name),
    setListOwner: (id, owner) => run('UPDATE lists SET owner_id = $2 WHERE id = $1', id, owner),
    deleteList: (id) => run('DELETE FROM lists WHERE id = $1', id),
  };
}

async function openPostgres(
  schemas: TestSchemas,
  options: StoreTestOptions = {},
): Promise<StoreUnderTest> {
  const store = createPostgresStore({
    connectionString: DATABASE_URL,
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 4 },
    ...options,
  });
  await store.open(todoSchema);
  return {
    store,
    external: pgWriter(schemas.business),
    async reopen() {
      await store.close();
      return openPostgres(schemas, options);
    },
    async cleanup() {
      await store.close();
      await schemas.drop();
    },
  };
}

export const postgresFactory: StoreFactory = {
  name: 'PostgreSQL',
  create: (options) => openPostgres(testSchemas(), options),
};

/**
 * The server's hooks (validate, authorize, beforeCommit) end to end on the PostgreSQL store.
 */
import { createPostgresStore } from '@ferry/server/postgres';
import {
  DATABASE_URL,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';
import { describeServerHooks } from '../support/server-hooks-suite.js';

describePg('server hooks on the PostgreSQL store', () => {
  describeServerHooks('end to end', {
    fresh: () => {
      const schemas = testSchemas();
      return {
        store: () =>
          createPostgresStore({
            connectionString: DATABASE_URL,
            schemaName: schemas.meta,
            businessSchema: schemas.business,
            pool: { max: 4 },
          }),
        cleanup: () => schemas.drop(),
      };
    },
  });
});

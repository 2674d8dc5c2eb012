import { describePg } from './store/postgres/test-support/pg-test-database.js';
import { describeServerMigrations } from './test-support/migration-suite.js';

describePg('schema migrations on the PostgreSQL store', () => {
  describeServerMigrations('postgres');
});

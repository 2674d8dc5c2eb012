import { describePg } from './store/postgres/test-support/pg-test-database.js';
import { describeErrorTable } from './test-support/error-table-suite.js';

describePg('the error table on the PostgreSQL store', () => {
  describeErrorTable('postgres');
});

import { describePg } from '../store/postgres/test-support/pg-test-database.js';
import { describeAbuse } from './abuse-suite.js';

describePg('the abuse suite on the PostgreSQL store', () => {
  describeAbuse('postgres');
});

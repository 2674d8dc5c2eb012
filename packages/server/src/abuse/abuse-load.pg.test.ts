import { describePg } from '../store/postgres/test-support/pg-test-database.js';
import { describeAbuseLoad } from './abuse-load.js';

describePg('the abuse load test on the PostgreSQL store', () => {
  describeAbuseLoad('postgres');
});

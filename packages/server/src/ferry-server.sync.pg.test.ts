import { describePg } from './store/postgres/test-support/pg-test-database.js';
import { describeSyncRules } from './test-support/sync-rules-suite.js';

describePg('the sync rules on the PostgreSQL store', () => {
  describeSyncRules('postgres');
});

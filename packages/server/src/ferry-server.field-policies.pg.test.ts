import { describePg } from './store/postgres/test-support/pg-test-database.js';
import { describeFieldPolicies } from './test-support/field-policies-suite.js';

describePg('counters and append-only tables on the PostgreSQL store', () => {
  describeFieldPolicies('postgres');
});

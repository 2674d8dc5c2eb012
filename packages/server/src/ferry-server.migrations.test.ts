import { describeServerMigrations } from './test-support/migration-suite.js';

describeServerMigrations('sqlite');

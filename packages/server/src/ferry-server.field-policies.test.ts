import { describeFieldPolicies } from './test-support/field-policies-suite.js';

describeFieldPolicies('sqlite');

import { describeAbuse } from './abuse-suite.js';

describeAbuse('sqlite');

import { describeAbuseLoad } from './abuse-load.js';

describeAbuseLoad('sqlite');

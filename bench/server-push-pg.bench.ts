/** push on PostgreSQL: 100,000 todos in bundles of 1,000 from one source over HTTP. */
import { benchPush } from './support/server-benches.js';

await benchPush('postgres');

/** push: 100,000 todos in bundles of 1,000 from one source over HTTP on loopback (SQLite). */
import { benchPush } from './support/server-benches.js';

await benchPush('sqlite');

/** pull: the push bench's 100,000 rows pulled by a fresh cursor in pages of 5,000 (SQLite). */
import { benchPull } from './support/server-benches.js';

await benchPull('sqlite');

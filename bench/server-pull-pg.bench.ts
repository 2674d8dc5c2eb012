/** pull on PostgreSQL: the push bench's rows by a fresh cursor in pages of 5,000. */
import { benchPull } from './support/server-benches.js';

await benchPull('postgres');

/** snapshot on PostgreSQL: 100,000 rows from a server in its own process; rows/s and RSS. */
import { benchSnapshot } from './support/server-benches.js';

await benchSnapshot('postgres');

/**
 * snapshot: 100,000 rows streamed as NDJSON over HTTP from a server in its own process;
 * rows/s, and the server's RSS peak during the snapshot (and over its whole life). SQLite.
 */
import { benchSnapshot } from './support/server-benches.js';

await benchSnapshot('sqlite');

/**
 * A Ferry server in a child process of its own, so the abuse load test can measure the server's
 * memory alone. Run with `node --import tsx --conditions=@ferry/source abuse-server-process.ts`;
 * environment: FERRY_ABUSE_STORE (`sqlite` or `postgres`), FERRY_ABUSE_DB (the SQLite file), or
 * DATABASE_URL, FERRY_PG_META and FERRY_PG_BUSINESS (the PostgreSQL schemas). Sends `{url}`
 * over IPC once listening, samples its RSS every 5 ms, and answers `baseline` (→ `{rss}`, after
 * a GC; restarts the peak), `peak` (→ `{rss}`) and `stop`.
 */
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer } from '../ferry-server.js';
import type { ServerStore } from '../store/server-store.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { TEST_SECRET } from '../test-support/harness.js';

let store: ServerStore;
if (process.env.FERRY_ABUSE_STORE === 'postgres') {
  const { createPostgresStore } = await import('../store/postgres/postgres-store.js');
  store = createPostgresStore({
    connectionString: process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test',
    schemaName: process.env.FERRY_PG_META!,
    businessSchema: process.env.FERRY_PG_BUSINESS!,
  });
} else {
  store = createSqliteStore({ path: process.env.FERRY_ABUSE_DB! });
}
const server = await createFerryServer({
  schema: todoSchema,
  store,
  auth: { jwtSecret: TEST_SECRET },
  logger: false,
  externalPollMs: 0,
  limits: { rateLimit: false },
});
const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
let peak = process.memoryUsage().rss;
const sampler = setInterval(() => {
  peak = Math.max(peak, process.memoryUsage().rss);
}, 5);
process.on('message', (message: string) => {
  if (message === 'baseline') {
    globalThis.gc?.();
    peak = process.memoryUsage().rss;
    process.send!({ rss: peak });
  } else if (message === 'peak') {
    peak = Math.max(peak, process.memoryUsage().rss);
    process.send!({ rss: peak });
  } else if (message === 'stop') {
    clearInterval(sampler);
    void server.close().then(() => process.exit(0));
  }
});
process.send!({ url });

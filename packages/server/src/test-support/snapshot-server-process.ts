/**
 * A server in a child process of its own, so a test can measure the server's memory alone.
 * Run with `node --import tsx --conditions=@ferry/source snapshot-server-process.ts DB_PATH`;
 * it sends `{url}` over IPC, samples its RSS every 5 ms, and answers the messages
 * `baseline` (→ `{rss}`, and restarts the peak) and `peak` (→ `{rss}`), and `stop`.
 */
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer } from '../ferry-server.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { TEST_SECRET } from './harness.js';

const path = process.argv[2]!;
const server = await createFerryServer({
  schema: todoSchema,
  store: createSqliteStore({ path }),
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

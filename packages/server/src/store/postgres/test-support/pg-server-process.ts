/**
 * A Ferry server on the PostgreSQL store in a child process of its own, for crash tests. Run
 * with `node --import tsx --conditions=@ferry/source pg-server-process.ts`; environment:
 * DATABASE_URL, FERRY_PG_META and FERRY_PG_BUSINESS (the schemas), FERRY_COMMIT_DELAY_MS
 * (a pg_sleep inside every push transaction, to make a kill land mid-commit). Sends `{url}`
 * over IPC once listening.
 */
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer } from '../../../ferry-server.js';
import { TEST_SECRET } from '../../../test-support/harness.js';
import { createPostgresStore } from '../postgres-store.js';

const delayMs = Number(process.env.FERRY_COMMIT_DELAY_MS ?? 0);
const server = await createFerryServer({
  schema: todoSchema,
  store: createPostgresStore({
    connectionString: process.env.DATABASE_URL ?? 'postgres://127.0.0.1:5432/test',
    schemaName: process.env.FERRY_PG_META!,
    businessSchema: process.env.FERRY_PG_BUSINESS!,
    pool: { max: 8 },
    ...(delayMs > 0 ? { testHooks: { commitDelayMs: () => Math.random() * delayMs } } : {}),
  }),
  auth: { jwtSecret: TEST_SECRET },
  logger: false,
  limits: { rateLimit: false },
});
const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
process.send!({ url });

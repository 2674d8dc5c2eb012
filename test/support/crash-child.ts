/**
 * A client in its own process for the crash tests: runs a scenario and SIGKILLs itself at the
 * hook point named by FERRY_KILL_AT. Run with
 * `node --import tsx --conditions=@ferry/source test/support/crash-child.ts`.
 *
 * Environment: FERRY_DB (file), FERRY_URL, FERRY_TOKEN, FERRY_KILL_AT (a hook point),
 * FERRY_SCENARIO (`write`, `write-sync`, `sync`, `pull-first`), FERRY_IDS (JSON: ids to write).
 */
import { createClient, type HookPoint } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';

const env = (name: string): string => {
  const value = process.env[name];
  if (value === undefined) throw new Error(`${name} is not set`);
  return value;
};

const killAt = process.env['FERRY_KILL_AT'] as HookPoint | undefined;
const scenario = env('FERRY_SCENARIO');
const ids = JSON.parse(process.env['FERRY_IDS'] ?? '{}') as { list?: string; todo?: string };

const client = await createClient({
  schema: todoSchema,
  driver: betterSqlite3Driver(env('FERRY_DB')),
  url: env('FERRY_URL'),
  getToken: () => env('FERRY_TOKEN'),
  initialSync: scenario === 'pull-first' ? 'pull' : 'hydrate',
  autoSync: false,
  hooks: {
    at(point) {
      if (point === killAt) {
        process.stdout.write(`killed at ${point}\n`);
        process.kill(process.pid, 'SIGKILL');
      }
    },
  },
});

if (scenario === 'write' || scenario === 'write-sync' || scenario === 'pull-first') {
  await client.write((tx) => {
    tx.insert('lists', { id: ids.list!, name: 'written by the child' });
    tx.insert('todos', { id: ids.todo!, list_id: ids.list!, title: 'child todo' });
  });
}
if (scenario !== 'write') await client.sync();
await client.close();
process.stdout.write('finished\n');

/**
 * A closed server or client keeps nothing alive, and a long simulation stays in bounded memory:
 * nothing process-wide (metric collectors, listeners on long-lived signals, caches) may hold an
 * instance after `close()`. The server and the client are checked two ways: the closed instance
 * is collected, and many create–use–close cycles leave a small bound each. The simulation, whose
 * objects are not public, is checked by the second way. The bounds are far below what a leak
 * costs: a server kept about 23 KiB and a 10 ms event-loop monitor, a run of the seed below
 * about 490 KiB (1.6 MiB at 300 operations), because the simulated network left its listener on
 * every request signal and so kept every client and run alive.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer, createSqliteStore, signToken, type FerryServer } from '@ferry/server';
import { runSeeds } from '@ferry/sim';
import { isCollected, retainedBytesPerRun } from '../support/retained-heap.js';

const SECRET = 'lifetime-secret-of-at-least-32-bytes!!';
const KIB = 1024;

describe('what a closed instance leaves behind', () => {
  let dir: string;
  let server: FerryServer;
  let url: string;
  let token: string;
  let serial = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-lifetime-'));
    server = await serve(join(dir, 'server.db'));
    url = (await server.listen({ host: '127.0.0.1', port: 0 })).url;
    token = await signToken({ secret: SECRET, userId: 'alice' });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A server on its own SQLite file, listening on 127.0.0.1 and asked for a pull over HTTP. */
  async function serverCycle(refs?: Refs): Promise<void> {
    const other = await serve(join(dir, `server-${serial++ % 4}.db`));
    const { url: otherUrl } = await other.listen({ host: '127.0.0.1', port: 0 });
    expect(await getStatus(`${otherUrl}/v1/pull?after=0`, token)).toBe(200);
    if (refs) {
      refs.server = new WeakRef(other);
      refs['its metrics registry'] = new WeakRef(other.metrics.registry);
      refs['its store'] = new WeakRef(other.store);
    }
    await other.close();
  }

  /** A client on its own file that writes and syncs over HTTP with the scheduler on. */
  async function clientCycle(refs?: Refs): Promise<void> {
    const client = await createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(join(dir, `client-${serial++ % 4}.db`)),
      url,
      getToken: () => token,
    });
    await client.write((tx) => tx.insert('lists', { id: crypto.randomUUID(), name: 'errands' }));
    await client.sync();
    expect((await client.readStatus()).pending).toBe(0);
    if (refs) refs.client = new WeakRef(client);
    await client.close();
  }

  it(
    'a closed server is collected with its store and metrics, and 100 more keep under 8 KiB each',
    { timeout: 120_000 },
    async () => {
      const refs: Refs = {};
      await serverCycle(refs);
      expect(await uncollected(refs)).toEqual([]);
      const perServer = await retainedBytesPerRun(() => serverCycle(), { warmUp: 30, runs: 100 });
      console.log(`created, used and closed servers: ${(perServer / KIB).toFixed(2)} KiB each`);
      expect(perServer).toBeLessThan(8 * KIB);
    },
  );

  it(
    'a closed client is collected after syncing over HTTP, and 60 more keep under 8 KiB each',
    { timeout: 120_000 },
    async () => {
      const refs: Refs = {};
      await clientCycle(refs);
      expect(await uncollected(refs)).toEqual([]);
      const perClient = await retainedBytesPerRun(() => clientCycle(), { warmUp: 20, runs: 60 });
      console.log(`created, synced and closed clients: ${(perClient / KIB).toFixed(2)} KiB each`);
      expect(perClient).toBeLessThan(8 * KIB);
    },
  );

  it(
    'a simulated seed (crashes, restarts and all) run 12 times keeps under 64 KiB a run',
    { timeout: 600_000 },
    async () => {
      // One seed again and again: the same work every run, so the code it compiles stops
      // growing after the warm-up, and what is left is what the runs keep. Memory only: whether
      // the seed passes is the simulation suites' business.
      const seed = 7_001;
      const perRun = await retainedBytesPerRun(
        async () => {
          await runSeeds({ schema: todoSchema, seeds: [seed], operations: 100 });
        },
        { warmUp: 3, runs: 12 },
      );
      console.log(
        `simulated seed ${seed} (100 operations): ${(perRun / KIB).toFixed(1)} KiB a run`,
      );
      expect(perRun).toBeLessThan(64 * KIB);
    },
  );
});

/**
 * GETs `url` with a bearer token on a connection of its own, and returns the status. Not fetch:
 * its global agent keeps a connection pool per origin, and every server here is a new origin.
 */
function getStatus(url: string, bearer: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(url, { agent: false, headers: { authorization: `Bearer ${bearer}` } });
    request.on('error', reject);
    request.on('response', (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
      response.on('error', reject);
    });
  });
}

/** Weak references to the objects of one cycle, by what they are. */
type Refs = Record<string, WeakRef<object>>;

/** The names of the objects still alive after a full collection. */
async function uncollected(refs: Refs): Promise<string[]> {
  const alive: string[] = [];
  for (const [what, ref] of Object.entries(refs)) if (!(await isCollected(ref))) alive.push(what);
  return alive;
}

function serve(path: string): Promise<FerryServer> {
  return createFerryServer({
    schema: todoSchema,
    store: createSqliteStore({ path }),
    auth: { jwtSecret: SECRET },
    logger: false,
    externalPollMs: 0,
    limits: { rateLimit: false },
  });
}

/**
 * The crash-point runs: a seeded workload in a child process is killed with SIGKILL the k-th
 * time it reaches a named point, then the parent checks the file as the crash left it and
 * recovers the device:
 * - `PRAGMA integrity_check` is ok;
 * - the checkpoint is never ahead of applied data: every row without local intent is the
 *   server's row as of the checkpoint, and every row the server had then is there (or has
 *   local intent);
 * - 0 lost acknowledged writes: after recovery, the server holds exactly what the device's
 *   acknowledged writes made (or, for the write that was running when it died, its result);
 * - 0 server duplicates: no (sourceId, sourceBundleId) is committed twice, seqs are dense;
 * - the device converges with the server.
 *
 * Kills per point: FERRY_CRASH_KILLS (default 20). The workload seed is printed; replay one
 * kill with FERRY_CRASH_SEED=… (and FERRY_CRASH_KILLS=1).
 */
import { createClient, type HookPoint } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import type { Row } from '@ferry/protocol';
import { LocalInspector, rowKey } from '@ferry/sim';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverRows, startHarness, type Harness } from '../support/ferry-harness.js';
import { bundleCrashChild, type CrashChild } from './child-process.js';

export const KILLS = Number(process.env['FERRY_CRASH_KILLS'] ?? 20);
const FIXED_SEED = process.env['FERRY_CRASH_SEED'];

/**
 * The suite of one group of points: a server and the bundled child, then each point killed
 * {@link KILLS} times. Seeds start at a random base it prints (`FERRY_CRASH_BASE` replays a
 * whole run), `offset` apart between groups so that two groups never share a seed.
 */
export function describeCrashPoints(points: readonly HookPoint[], offset: number): void {
  const base = Number(
    process.env['FERRY_CRASH_BASE'] ?? Math.floor(Math.random() * 1_000_000) * 100,
  );
  describe(`SIGKILL at named points, ${KILLS} times each (seeds from ${base})`, () => {
    let h: Harness;
    let child: CrashChild;
    beforeAll(async () => {
      [h, child] = await Promise.all([startHarness(), bundleCrashChild()]);
    });
    afterAll(async () => {
      child.dispose();
      await h.close();
    });

    it.each(points)(
      'killed at %s: file intact, checkpoint not ahead of the data, no acknowledged write lost, no bundle committed twice',
      { timeout: 600_000 },
      async (point) => {
        const first = base + points.indexOf(point) * 1000 + offset;
        const seeds = await killAtPoint(h, child, point, first);
        console.log(
          `${point}: ${seeds.length} kills, seeds ${seeds[0]}..${seeds[seeds.length - 1]}`,
        );
      },
    );
  });
}

/** A write the child announced (see crash-child.ts). */
type Write =
  | { op: 'insert-list'; id: string; name: string }
  | { op: 'insert-todo'; id: string; list: string; title: string }
  | { op: 'update-list'; id: string; name: string }
  | { op: 'update-todo'; id: string; title: string; done: boolean }
  | { op: 'delete-todo'; id: string }
  | { op: 'delete-list'; id: string };

interface BundleInfo {
  bundleSeq: number;
  sourceId: string | null;
  sourceBundleId: number | null;
  rows: {
    table: string;
    pk: string;
    op: 'upsert' | 'delete';
    rowVersion: number;
    row: Row | null;
  }[];
}

/** Kills the workload at `point` KILLS times and checks each crash. Returns the seeds run. */
async function killAtPoint(
  h: Harness,
  child: CrashChild,
  point: HookPoint,
  base: number,
): Promise<number[]> {
  const seeds: number[] = [];
  for (let kill = 0; kill < KILLS; kill++) {
    const seed = FIXED_SEED !== undefined ? Number(FIXED_SEED) : base + kill;
    seeds.push(seed);
    await oneKill(h, child, point, seed);
  }
  return seeds;
}

async function oneKill(h: Harness, child: CrashChild, point: HookPoint, seed: number) {
  const user = `u-${point}-${seed}`;
  const name = `${point}-${seed}`;
  const where = `kill at ${point}, seed ${seed} (replay: FERRY_CRASH_SEED=${seed} FERRY_CRASH_KILLS=1)`;
  // The k-th time the point is reached: hydration happens at start (and on demand), so it is
  // mostly the first time there; other points come round again and again.
  const killAfter = point === 'during-hydration' ? 1 + (seed % 2) : 1 + (seed % 3);
  // Something on the server for the first hydration to apply.
  const seedClient = await h.client(`${name}-seed`, user);
  await seedClient.write((tx) => {
    const list = crypto.randomUUID();
    tx.insert('lists', { id: list, name: 'there before' });
    for (let i = 0; i < 6; i++)
      tx.insert('todos', { id: crypto.randomUUID(), list_id: list, title: `t${i}` });
  });
  await seedClient.sync();
  await seedClient.close();

  const run = await child.run({
    FERRY_SCENARIO: 'workload',
    FERRY_DB: h.dbPath(name),
    FERRY_PEER_DB: h.dbPath(`${name}-peer`),
    FERRY_URL: h.url,
    FERRY_TOKEN: await h.token(user),
    FERRY_KILL_AT: point,
    FERRY_KILL_AFTER: String(killAfter),
    FERRY_SEED: String(seed),
  });
  expect(run.output, `${where}: the child must reach the point and die there`).toContain(
    `killed at ${point} #${killAfter}`,
  );
  expect(run.signal, where).toBe('SIGKILL');
  const writes = parseWrites(run.output);

  // The file as the crash left it.
  const inspector = new LocalInspector(h.dbPath(name), todoSchema);
  try {
    expect(inspector.integrityCheck(), `${where}: integrity_check`).toBe('ok');
    const local = inspector.read();
    const bundles = await serverBundles(h, user);
    if (local.checkpoint !== null) {
      expect(local.checkpoint, `${where}: checkpoint past the server`).toBeLessThanOrEqual(
        bundles.length,
      );
      const expected = stateAt(bundles, local.checkpoint);
      for (const [key, entry] of local.rows) {
        if (local.intents.has(key)) continue;
        expect(
          entry.row,
          `${where}: ${entry.table} ${entry.pk} at checkpoint ${local.checkpoint}`,
        ).toEqual(expected.get(key));
      }
      for (const [key, row] of expected) {
        if (local.intents.has(key)) continue;
        expect(
          local.rows.get(key)?.row,
          `${where}: missing at checkpoint ${local.checkpoint}`,
        ).toEqual(row);
      }
    }
  } finally {
    inspector.close();
  }

  // Recovery: the device starts again and syncs until nothing is left.
  const device = await createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(h.dbPath(name)),
    url: h.url,
    getToken: () => h.token(user),
    autoSync: false,
  });
  try {
    for (let i = 0; i < 5; i++) {
      await device.sync();
      const status = await device.readStatus();
      if (status.pending === 0 && status.inFlight === null) break;
    }
    const status = await device.readStatus();
    expect(status, where).toMatchObject({
      pending: 0,
      inFlight: null,
      conflicts: 0,
      deadLetters: 0,
    });

    // 0 server duplicates.
    const bundles = await serverBundles(h, user);
    expect(
      bundles.map((b) => b.bundleSeq),
      `${where}: dense seqs`,
    ).toEqual(bundles.map((_, i) => i + 1));
    const keys = bundles
      .filter((b) => b.sourceId !== null)
      .map((b) => `${b.sourceId}:${b.sourceBundleId}`);
    expect(new Set(keys).size, `${where}: a bundle committed twice`).toBe(keys.length);

    // 0 lost acknowledged writes.
    const lists = await serverRows(h, user, 'lists');
    const todos = await serverRows(h, user, 'todos');
    const server = new Map<string, Row>([
      ...lists.map((r) => [`lists:${String(r['id'])}`, r] as [string, Row]),
      ...todos.map((r) => [`todos:${String(r['id'])}`, r] as [string, Row]),
    ]);
    const acked = modelOf(writes.acked);
    const withRunning = writes.running ? modelOf([...writes.acked, writes.running]) : acked;
    /** The keys where the server differs from `model`, with both sides. */
    const differences = (model: Map<string, Row | null>) =>
      [...model].flatMap(([key, row]) => {
        const actual = server.get(key);
        const same =
          row === null
            ? actual === undefined
            : actual !== undefined && Object.entries(row).every(([c, v]) => actual[c] === v);
        return same
          ? []
          : [`${key}: expected ${JSON.stringify(row)}, server ${JSON.stringify(actual ?? null)}`];
      });
    const missed = differences(acked);
    const missedWithRunning = writes.running ? differences(withRunning) : missed;
    expect(
      missed.length === 0 || missedWithRunning.length === 0 ? [] : missed,
      `${where}: the server must hold every acknowledged write (${writes.acked.length} acked${writes.running ? `, ${writes.running.op} running` : ''})`,
    ).toEqual([]);

    // The device converged.
    const mine = [...(await device.query<{ id: string }>('SELECT id FROM lists'))].length;
    expect(mine, where).toBe(lists.length);
  } finally {
    await device.close();
  }
}

function parseWrites(output: string): { acked: Write[]; running: Write | null } {
  const acked: Write[] = [];
  let running: Write | null = null;
  for (const line of output.split('\n')) {
    if (!line.startsWith('{')) continue;
    const message = JSON.parse(line) as { begin?: Write; ack?: Write };
    if (message.begin) running = message.begin;
    if (message.ack) {
      acked.push(message.ack);
      running = null;
    }
  }
  return { acked, running };
}

/** What the device's writes leave on the server: row key → the columns they set, or null. */
function modelOf(writes: readonly Write[]): Map<string, Row | null> {
  const model = new Map<string, Row | null>();
  const todoList = new Map<string, string>();
  for (const w of writes) {
    switch (w.op) {
      case 'insert-list':
        model.set(`lists:${w.id}`, { name: w.name });
        break;
      case 'insert-todo':
        model.set(`todos:${w.id}`, { list_id: w.list, title: w.title });
        todoList.set(w.id, w.list);
        break;
      case 'update-list':
        model.set(`lists:${w.id}`, { ...model.get(`lists:${w.id}`), name: w.name });
        break;
      case 'update-todo':
        model.set(`todos:${w.id}`, { ...model.get(`todos:${w.id}`), title: w.title, done: w.done });
        break;
      case 'delete-todo':
        model.set(`todos:${w.id}`, null);
        break;
      case 'delete-list':
        model.set(`lists:${w.id}`, null);
        for (const [todo, list] of todoList) if (list === w.id) model.set(`todos:${todo}`, null);
        break;
    }
  }
  return model;
}

async function serverBundles(h: Harness, user: string): Promise<BundleInfo[]> {
  const response = await fetch(`${h.url}/v1/pull?after=0&limit=50000`, {
    headers: { authorization: `Bearer ${await h.token(user)}` },
  });
  return ((await response.json()) as { bundles: BundleInfo[] }).bundles;
}

/** The user's rows as of bundle `seq`, by the simulator's row key. */
function stateAt(bundles: readonly BundleInfo[], seq: number): Map<string, Row> {
  const state = new Map<string, Row>();
  for (const bundle of bundles) {
    if (bundle.bundleSeq > seq) break;
    for (const effect of bundle.rows) {
      const key = rowKey(effect.table, effect.pk);
      if (effect.op === 'upsert') state.set(key, effect.row!);
      else state.delete(key);
    }
  }
  return state;
}

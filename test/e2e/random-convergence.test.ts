/**
 * Randomised: several devices of one user make random offline writes and sync in random order
 * and modes; in the end every device and the server agree. Prints its seed; replay with
 * `SEED=… npx vitest run test/e2e/random-convergence.test.ts`. Budget: FERRY_RANDOM_STEPS
 * (default 60 steps) and FERRY_RANDOM_RUNS (default 2 seeds).
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

/** mulberry32: a small seeded PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const STEPS = Number(process.env['FERRY_RANDOM_STEPS'] ?? 60);
const RUNS = Number(process.env['FERRY_RANDOM_RUNS'] ?? 2);
const firstSeed = process.env['SEED'] ? Number(process.env['SEED']) : Date.now() % 1_000_000;
const seeds = process.env['SEED']
  ? [firstSeed]
  : Array.from({ length: RUNS }, (_, i) => firstSeed + i);

describe('random offline writes on three devices', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it.each(seeds)('converge with the server (seed %i)', async (seed) => {
    console.log(`random-convergence seed ${seed} (replay: SEED=${seed})`);
    const random = prng(seed);
    const pick = <T>(items: readonly T[]): T | undefined =>
      items[Math.floor(random() * items.length)];
    h = await startHarness();
    const devices: Client[] = [];
    for (let i = 0; i < 3; i++) devices.push(await h.client(`d${i}`));
    for (const d of devices) await d.sync();

    const ids = async (d: Client, table: 'lists' | 'todos') =>
      (await d.query<{ id: string }>(`SELECT id FROM ${table}`)).map((r) => r.id);

    const tally = { pushed: 0, conflicts: 0, deadLettered: 0 };
    for (let step = 0; step < STEPS; step++) {
      const d = pick(devices)!;
      const roll = random();
      const lists = await ids(d, 'lists');
      const todos = await ids(d, 'todos');
      if (roll < 0.12) {
        await d.write((tx) => tx.insert('lists', { id: uuid(), name: `list ${step}` }));
      } else if (roll < 0.35 && lists.length > 0) {
        const listId = pick(lists)!;
        await d.write((tx) =>
          tx.insert('todos', { id: uuid(), list_id: listId, title: `todo ${step}` }),
        );
      } else if (roll < 0.55 && todos.length > 0) {
        const id = pick(todos)!;
        const field = random();
        await d.write((tx) =>
          tx.update(
            'todos',
            id,
            field < 0.33
              ? { title: `edit ${step}` }
              : field < 0.66
                ? { done: random() < 0.5 }
                : { position: step },
          ),
        );
      } else if (roll < 0.62 && todos.length > 0) {
        await d.write((tx) => tx.delete('todos', pick(todos)!));
      } else if (roll < 0.66 && lists.length > 0) {
        await d.write((tx) => tx.delete('lists', pick(lists)!));
      } else if (roll < 0.72 && lists.length > 0) {
        await d.write((tx) => tx.update('lists', pick(lists)!, { name: `renamed ${step}` }));
      } else {
        const kind = random();
        const report = await d.sync({ kind: kind < 0.6 ? 'full' : kind < 0.8 ? 'push' : 'pull' });
        tally.pushed += report.pushed;
        tally.conflicts += report.conflicts.length;
        tally.deadLettered += report.deadLettered.length;
      }
    }

    console.log(`seed ${seed}: ${JSON.stringify(tally)}`);
    // Settle: sync everyone, let the app resolve what waits for it, and sync again.
    for (let round = 0; round < 3; round++) {
      for (const d of devices) {
        await d.sync();
        for (const conflict of await d.conflicts()) await d.resolveConflict(conflict.id, 'server');
        for (const letter of await d.deadLetters()) await d.discardDeadLetter(letter.id);
      }
    }
    for (const d of devices) await d.sync();

    for (const table of ['lists', 'todos'] as const) {
      const server = await serverRows(h, 'alice', table);
      for (const d of devices)
        expect(await rowsOf(d, table), `${table} on ${d.sourceId}`).toEqual(server);
    }
    for (const d of devices) {
      expect(await d.readStatus()).toMatchObject({ pending: 0, inFlight: null, conflicts: 0 });
    }
  });
});

/**
 * Cost grows with the work, not with the history:
 *
 * - `pull_after_history`: a client pulls the next 100 changes (100 bundles of one row, written
 *   by backend code) after a history of H bundles of its user (`BENCH_HISTORY_BUNDLES`, default
 *   `10000,1000000`). Beside it, `raw_select_100`: the same 100 bundles read with one SELECT on
 *   the store's file. `ratio`: this line's time over the same line at the smallest H.
 * - `freeze_after_acked`: a client pushes 1,000 pending rows with A acknowledged rows in its
 *   file (`BENCH_ACKED_ROWS`, default `0,100000`). `ratio`: as above, against the smallest A;
 *   `freeze_ms` (and `freeze_ratio`): the part until the bundle is frozen (the fold and the
 *   freeze, up to the `after-freeze-before-send` hook).
 *
 * Medians of `BENCH_HISTORY_REPEAT` (default 5) runs per line. The server runs in this process,
 * on SQLite, over HTTP on loopback.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { createClient, type FerryClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { perSecond, report, round } from './support/report.js';
import { startBenchServer, type BenchServer } from './support/todo-server.js';

const list = (name: string, fallback: string) =>
  (process.env[name] ?? fallback).split(',').map(Number);
const histories = list('BENCH_HISTORY_BUNDLES', '10000,1000000');
const ackedSizes = list('BENCH_ACKED_ROWS', '0,100000');
const repeat = Number(process.env.BENCH_HISTORY_REPEAT ?? 5);
const PULLED = 100;
const FROZEN = 1_000;
const USER = 'bench-user';

const median = (values: readonly number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
};

const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-history-'));

function openClient(
  bench: BenchServer,
  name: string,
  initialSync: 'hydrate' | 'pull' = 'hydrate',
  onFrozen?: () => void,
) {
  return createClient({
    schema: todoSchema,
    driver: betterSqlite3Driver(join(dir, `${name}.db`)),
    url: bench.url,
    getToken: () => bench.token,
    requestTimeoutMs: 300_000,
    autoSync: false,
    initialSync,
    ...(onFrozen
      ? {
          hooks: { at: (point) => (point === 'after-freeze-before-send' ? onFrozen() : undefined) },
        }
      : {}),
  });
}

/** Appends `count` bundles of one row each to the user's history, written by backend code. */
async function growHistory(
  bench: BenchServer,
  listId: string,
  todoId: string,
  count: number,
): Promise<void> {
  for (let i = 0; i < count; i++) {
    await bench.server.write(USER, (tx) =>
      tx.upsert('todos', { id: todoId, owner_id: USER, list_id: listId, title: `v${i}` }),
    );
  }
}

async function pullAfterHistory(): Promise<void> {
  const bench = await startBenchServer({ dbPath: join(dir, 'history-server.db') });
  const clients: FerryClient<typeof todoSchema>[] = [];
  try {
    const listId = randomUUID();
    await bench.server.write(USER, (tx) =>
      tx.upsert('lists', { id: listId, owner_id: USER, name: 'h' }),
    );
    const todoIds = Array.from({ length: PULLED }, () => randomUUID());
    await bench.server.write(USER, async (tx) => {
      for (const id of todoIds) {
        await tx.upsert('todos', { id, owner_id: USER, list_id: listId, title: 'start' });
      }
    });
    let bundles = 2;
    let smallest: number | undefined;
    const raw = new Database(bench.dbPath, { readonly: true });
    const rawSelect = raw.prepare(
      'SELECT rows FROM ferry_bundles WHERE user_id = ? AND bundle_seq > ? ORDER BY bundle_seq LIMIT ?',
    );
    for (const history of histories) {
      await growHistory(bench, listId, todoIds[0]!, history - bundles);
      bundles = history;
      const walls: number[] = [];
      const rawWalls: number[] = [];
      for (let run = 0; run < repeat; run++) {
        const reader = await openClient(bench, `reader-${history}-${run}`, 'pull');
        clients.push(reader);
        await reader.sync(); // up to date: its checkpoint is the end of the history
        for (const id of todoIds) {
          await bench.server.write(USER, (tx) =>
            tx.upsert('todos', { id, owner_id: USER, list_id: listId, title: `run ${run}` }),
          );
        }
        const checkpoint = bundles;
        bundles += PULLED;
        const started = performance.now();
        const result = await reader.sync();
        walls.push(performance.now() - started);
        if (result.pulled !== PULLED) throw new Error(`pulled ${result.pulled} of ${PULLED}`);
        const rawStarted = performance.now();
        const rows = rawSelect.all(USER, checkpoint, PULLED);
        rawWalls.push(performance.now() - rawStarted);
        if (rows.length !== PULLED) throw new Error(`raw select read ${rows.length}`);
        await reader.close();
      }
      const wall = round(median(walls));
      smallest ??= wall;
      report({
        bench: 'pull_after_history',
        history_bundles: history,
        n: PULLED,
        wall_ms: wall,
        rows_per_s: perSecond(PULLED, wall),
        ratio: round(wall / smallest),
      });
      const rawWall = round(median(rawWalls));
      report({
        bench: 'raw_select_100',
        history_bundles: history,
        n: PULLED,
        wall_ms: rawWall,
        rows_per_s: perSecond(PULLED, rawWall),
      });
    }
    raw.close();
  } finally {
    for (const client of clients) await client.close().catch(() => undefined);
    await bench.close();
  }
}

async function freezeAfterAcked(): Promise<void> {
  let smallest: { wall: number; freeze: number } | undefined;
  for (const acked of ackedSizes) {
    const bench = await startBenchServer({ dbPath: join(dir, `acked-${acked}-server.db`) });
    try {
      const walls: number[] = [];
      const freezes: number[] = [];
      let frozenAt = 0;
      const writer = await openClient(bench, `acked-${acked}`, 'hydrate', () => {
        frozenAt = performance.now();
      });
      try {
        await writer.sync();
        const list = randomUUID();
        await writer.write((tx) => tx.insert('lists', { id: list, name: 'bench' }));
        // The acknowledged rows: written and pushed, in writes of 1,000.
        for (let done = 0; done < acked; done += 1_000) {
          await writer.write((tx) => {
            for (let i = done; i < Math.min(acked, done + 1_000); i++) {
              tx.insert('todos', { id: randomUUID(), list_id: list, title: `acked ${i}` });
            }
          });
        }
        await writer.sync();
        for (let run = 0; run < repeat; run++) {
          for (let i = 0; i < FROZEN; i++) {
            await writer.write((tx) =>
              tx.insert('todos', { id: randomUUID(), list_id: list, title: `pending ${i}` }),
            );
          }
          const started = performance.now();
          const result = await writer.sync();
          walls.push(performance.now() - started);
          freezes.push(frozenAt - started);
          if (result.pushed !== FROZEN) throw new Error(`pushed ${result.pushed} of ${FROZEN}`);
        }
      } finally {
        await writer.close();
      }
      const wall = round(median(walls));
      const freeze = round(median(freezes));
      smallest ??= { wall, freeze };
      report({
        bench: 'freeze_after_acked',
        acked_rows: acked,
        n: FROZEN,
        wall_ms: wall,
        rows_per_s: perSecond(FROZEN, wall),
        ratio: round(wall / smallest.wall),
        freeze_ms: freeze,
        freeze_ratio: round(freeze / smallest.freeze),
      });
    } finally {
      await bench.close();
    }
  }
}

try {
  await pullAfterHistory();
  await freezeAfterAcked();
} finally {
  rmSync(dir, { recursive: true, force: true });
}

/**
 * The figures of the browser bench measured the same way on Node (better-sqlite3 in the
 * process), for the lines that put both side by side.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { perSecond, round } from './report.js';

export interface NodeFigures {
  /** The 500 one-row writes, all together (ms). */
  readonly writeMs: number;
  readonly writeP50Us: number;
  readonly writeP99Us: number;
  readonly hydrateMs: number;
  readonly hydrateRowsPerS: number;
  readonly pushed: number;
  readonly pushMs: number;
}

/** On a server already holding `rows` todos of the token's user. */
export async function nodeFigures(
  url: string,
  token: string,
  rows: number,
  pushRows: number,
): Promise<NodeFigures> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-node-figures-'));
  const open = (name: string) =>
    createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(join(dir, `${name}.db`)),
      url,
      getToken: () => token,
      autoSync: false,
    });
  try {
    const reader = await open('reader');
    let started = performance.now();
    await reader.sync();
    const hydrateMs = performance.now() - started;
    await reader.close();

    const writer = await open('writer');
    await writer.sync();
    const listId = randomUUID();
    await writer.write((tx) => tx.insert('lists', { id: listId, name: 'bench' }));
    const took: number[] = [];
    for (let i = 0; i < 500; i++) {
      started = performance.now();
      await writer.write((tx) =>
        tx.insert('todos', { id: randomUUID(), list_id: listId, title: `w${i}` }),
      );
      took.push((performance.now() - started) * 1000);
    }
    took.sort((a, b) => a - b);
    await writer.sync();
    for (let done = 0; done < pushRows; done += 500) {
      await writer.write((tx) => {
        for (let i = done; i < Math.min(pushRows, done + 500); i++) {
          tx.insert('todos', { id: randomUUID(), list_id: listId, title: `p${i}` });
        }
      });
    }
    started = performance.now();
    const pushed = await writer.sync();
    const pushMs = performance.now() - started;
    await writer.close();
    return {
      writeMs: took.reduce((a, b) => a + b, 0) / 1000,
      writeP50Us: round(took[Math.floor(took.length / 2)]!),
      writeP99Us: round(took[Math.floor(took.length * 0.99)]!),
      hydrateMs,
      hydrateRowsPerS: perSecond(rows, hydrateMs),
      pushed: pushed.pushed,
      pushMs,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FerryClient, SqliteDriver } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import type { TodoSchema } from '@ferry/example-todo';
import { startHarness, uuid, type Harness } from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

/** A live query's deliveries, and a way to wait for the next one. */
function recorder<R>() {
  const results: R[][] = [];
  const errors: Error[] = [];
  let waiters: (() => void)[] = [];
  const settle = () => {
    const ready = waiters;
    waiters = [];
    for (const wake of ready) wake();
  };
  return {
    results,
    errors,
    onResult: (rows: R[]) => {
      results.push(rows);
      settle();
    },
    onError: (error: Error) => {
      errors.push(error);
      settle();
    },
    /** Resolves once `count` results (or an error) have arrived. */
    async until(count: number): Promise<void> {
      while (results.length < count && errors.length === 0) {
        await new Promise<void>((resolve) => waiters.push(resolve));
      }
    },
  };
}

/** Lets every pending re-run finish (they are queued behind the database's other calls). */
async function quiet(client: Client): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await client.query('SELECT 1');
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}

/** A driver that counts how often each SQL text ran through `all`. */
function countingDriver(path: string): { driver: SqliteDriver; runs: (sql: string) => number } {
  const inner = betterSqlite3Driver(new Database(path));
  const counts = new Map<string, number>();
  const driver: SqliteDriver = {
    storage: 'file',
    run: (sql, params) => inner.run(sql, params),
    all: (sql, params) => {
      counts.set(sql, (counts.get(sql) ?? 0) + 1);
      return inner.all(sql, params);
    },
    exec: (sql) => inner.exec(sql),
    batch: (statements) => inner.batch(statements),
    close: () => inner.close(),
  };
  return { driver, runs: (sql) => counts.get(sql) ?? 0 };
}

describe('live queries', () => {
  let h: Harness;
  let listId: string;
  beforeEach(async () => {
    h = await startHarness();
    listId = uuid();
  });
  afterEach(async () => {
    await h.close();
  });

  const COUNT = 'SELECT count(*) AS n FROM todos';

  it('call back with the rows now, then once per local transaction that changes them, never for a table they do not read or for the same rows', async () => {
    const { driver, runs } = countingDriver(h.dbPath('counted'));
    const a = await h.client('a', 'alice', { driver });
    const seen = recorder<{ n: number }>();
    const stop = a.watch<{ n: number }>(COUNT, [], seen.onResult, { onError: seen.onError });
    await seen.until(1);
    expect(seen.results).toEqual([[{ n: 0 }]]);

    // 50 inserts in one transaction: one re-run, one call back.
    const ids = Array.from({ length: 50 }, () => uuid());
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      for (const id of ids) tx.insert('todos', { id, list_id: listId, title: id });
    });
    await seen.until(2);
    await quiet(a);
    expect(seen.results).toEqual([[{ n: 0 }], [{ n: 50 }]]);
    const afterInsert = runs(COUNT);

    // A table the query does not read: no re-run at all.
    await a.write((tx) => tx.update('lists', listId, { name: 'renamed' }));
    await quiet(a);
    expect(runs(COUNT)).toBe(afterInsert);

    // A table it reads, but the same rows: it re-runs and stays silent.
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'new title' }));
    await quiet(a);
    expect(runs(COUNT)).toBe(afterInsert + 1);
    expect(seen.results).toHaveLength(2);

    // Several transactions in one burst: coalesced into fewer re-runs than transactions.
    await Promise.all(ids.slice(0, 10).map((id) => a.write((tx) => tx.delete('todos', id))));
    await quiet(a);
    expect(seen.results.at(-1)).toEqual([{ n: 40 }]);
    expect(runs(COUNT) - (afterInsert + 1)).toBeLessThan(10);

    stop();
    await a.write((tx) => tx.delete('todos', ids[20]!));
    await quiet(a);
    expect(seen.results.at(-1)).toEqual([{ n: 40 }]);
    expect(seen.errors).toEqual([]);
  });

  it('follow a cascade, raw SQL through execute and inside a write, and a join over two tables', async () => {
    const a = await h.client('a');
    const todoId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'one' });
    });
    const counted = recorder<{ n: number }>();
    a.watch<{ n: number }>(COUNT, [], counted.onResult);
    const joined = recorder<{ name: string; title: string }>();
    a.watch<{ name: string; title: string }>(
      'SELECT l.name, t.title FROM todos t JOIN lists l ON l.id = t.list_id WHERE l.id = ?',
      [listId],
      joined.onResult,
    );
    await counted.until(1);
    await joined.until(1);

    await a.execute('UPDATE lists SET name = ? WHERE id = ?', ['via execute', listId]);
    await joined.until(2);
    expect(joined.results[1]).toEqual([{ name: 'via execute', title: 'one' }]);

    await a.write(async (tx) => {
      await tx.execute('UPDATE todos SET title = ? WHERE id = ?', ['inside a write', todoId]);
    });
    await joined.until(3);
    expect(joined.results[2]).toEqual([{ name: 'via execute', title: 'inside a write' }]);

    // Deleting the list deletes its todos by cascade: the count follows.
    await a.write((tx) => tx.delete('lists', listId));
    await counted.until(2);
    expect(counted.results[1]).toEqual([{ n: 0 }]);
    await joined.until(4);
    expect(joined.results[3]).toEqual([]);
  });

  it('follow pulls, a hydration and the resolution of a conflict, over HTTP', async () => {
    const a = await h.client('a', 'alice', { resolvers: { todos: 'manual' } });
    const b = await h.client('b');
    const todoId = uuid();
    await b.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 'from b' });
    });
    await b.sync();

    const titles = recorder<{ title: string }>();
    a.watch<{ title: string }>('SELECT title FROM todos ORDER BY id', [], titles.onResult);
    await titles.until(1);
    expect(titles.results[0]).toEqual([]);
    await a.sync(); // the first sync of a fresh client hydrates
    await titles.until(2);
    expect(titles.results[1]).toEqual([{ title: 'from b' }]);

    await b.write((tx) => tx.update('todos', todoId, { title: 'b again' }));
    await b.sync();
    await a.sync(); // a pull
    await titles.until(3);
    expect(titles.results[2]).toEqual([{ title: 'b again' }]);

    // A manual conflict keeps the local row; its resolution with the server's row shows.
    await b.write((tx) => tx.update('todos', todoId, { title: 'server side' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', todoId, { title: 'local side' }));
    await titles.until(4);
    await a.sync();
    const [conflict] = await a.conflicts();
    expect(conflict).toBeDefined();
    await a.resolveConflict(conflict!.id, 'server');
    await titles.until(5);
    expect(titles.results.at(-1)).toEqual([{ title: 'server side' }]);
  });

  it('as an async iterator: yield each change, stop on break, and end with the error of a failing query', async () => {
    const a = await h.client('a');
    const seen: number[] = [];
    for await (const rows of a.liveQuery<{ n: number }>(COUNT)) {
      seen.push(rows[0]!.n);
      if (seen.length === 1) {
        void a.write((tx) => {
          tx.insert('lists', { id: listId, name: 'L' });
          tx.insert('todos', { id: uuid(), list_id: listId, title: 'x' });
        });
      } else break;
    }
    expect(seen).toEqual([0, 1]);

    const controller = new AbortController();
    const iterator = a.liveQuery(COUNT, [], { signal: controller.signal });
    expect(await iterator.next()).toMatchObject({ done: false });
    controller.abort();
    expect(await iterator.next()).toEqual({ done: true, value: undefined });

    await expect(async () => {
      for await (const _ of a.liveQuery('SELECT nope FROM nowhere')) void _;
    }).rejects.toThrow(/nowhere/);
  });
});

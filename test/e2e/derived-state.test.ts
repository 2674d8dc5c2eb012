import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '@ferry/protocol';
import type { ChangedRows, DerivedState, FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** Counts of todos per list, kept in a local table, with a record of every rebuild. */
function listCounts(log: { name: string; changed: ChangedRows }[], failOn?: () => string | null) {
  const counts: DerivedState = {
    name: 'list_counts',
    dependsOn: ['todos'],
    async rebuild(tx, changed) {
      log.push({ name: 'list_counts', changed });
      const poison = failOn?.();
      if (poison !== null && poison !== undefined) {
        const hit = await tx.all('SELECT 1 FROM todos WHERE title = ?', [poison]);
        if (hit.length > 0) throw new Error(`cannot count a todo titled ${poison}`);
      }
      await tx.run('DELETE FROM list_counts');
      await tx.run(
        'INSERT INTO list_counts (list_id, n) SELECT list_id, count(*) FROM todos GROUP BY list_id',
      );
    },
  };
  const busiest: DerivedState = {
    name: 'busiest_list',
    dependsOn: ['list_counts', 'lists'],
    async rebuild(tx, changed) {
      log.push({ name: 'busiest_list', changed });
      await tx.run('DELETE FROM busiest_list');
      await tx.run(
        'INSERT INTO busiest_list (list_id) SELECT list_id FROM list_counts ORDER BY n DESC, list_id LIMIT 1',
      );
    },
  };
  return [busiest, counts];
}

async function withTables(client: FerryClient<TodoSchema>): Promise<void> {
  await client.execute(
    'CREATE TABLE IF NOT EXISTS list_counts (list_id TEXT PRIMARY KEY, n INTEGER)',
  );
  await client.execute('CREATE TABLE IF NOT EXISTS busiest_list (list_id TEXT)');
}

describe('derived state', () => {
  let h: Harness;
  let listId: string;
  beforeEach(async () => {
    h = await startHarness();
    listId = uuid();
  });
  afterEach(async () => {
    await h.close();
  });

  it('is rebuilt in dependency order inside the transaction that applies a snapshot and each page, before live queries hear of it', async () => {
    const b = await h.client('b');
    await b.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      for (let i = 0; i < 3; i++)
        tx.insert('todos', { id: uuid(), list_id: listId, title: `t${i}` });
    });
    await b.sync();

    const log: { name: string; changed: ChangedRows }[] = [];
    const a = await h.client('a', 'alice', { derived: listCounts(log) });
    await withTables(a);
    const seen: unknown[][] = [];
    a.watch('SELECT n FROM list_counts', [], (rows) => seen.push(rows));

    await a.sync(); // hydrates
    expect(log.map((entry) => entry.name)).toEqual(['list_counts', 'busiest_list']);
    expect(log.every((entry) => entry.changed.all)).toBe(true);
    expect(await a.query('SELECT list_id, n FROM list_counts')).toEqual([
      { list_id: listId, n: 3 },
    ]);
    expect(await a.query('SELECT list_id FROM busiest_list')).toEqual([{ list_id: listId }]);

    const added = uuid();
    await b.write((tx) => tx.insert('todos', { id: added, list_id: listId, title: 'one more' }));
    await b.sync();
    log.length = 0;
    await a.sync(); // a page
    expect(log.map((entry) => entry.name)).toEqual(['list_counts', 'busiest_list']);
    expect(log[0]!.changed).toEqual({ all: false, keys: new Map([['todos', [added]]]) });
    expect(await a.query('SELECT n FROM list_counts')).toEqual([{ n: 4 }]);
    await expect.poll(() => seen.at(-1)).toEqual([{ n: 4 }]);
    // The live query never saw the page's rows without their counts: 0 (before), 3, 4.
    expect(seen).toEqual([[], [{ n: 3 }], [{ n: 4 }]]);
  });

  it('that fails rolls the whole page back, fails the cycle with derived_rebuild_failed, and applies once it rebuilds', async () => {
    let poison: string | null = 'boom';
    const log: { name: string; changed: ChangedRows }[] = [];
    const a = await h.client('a', 'alice', { derived: listCounts(log, () => poison) });
    await withTables(a);
    const b = await h.client('b');
    await b.write((tx) => tx.insert('lists', { id: listId, name: 'L' }));
    await b.sync();
    await a.sync();
    const checkpoint = (await a.readStatus()).checkpoint;

    await b.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'boom' }));
    await b.sync();
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'derived_rebuild_failed')).toBe(true);
    expect((error as Error).message).toMatch(/list_counts.*boom/);
    expect(await a.query('SELECT title FROM todos')).toEqual([]);
    expect(await a.readStatus()).toMatchObject({
      checkpoint,
      lastError: expect.objectContaining({ code: 'derived_rebuild_failed' }) as unknown,
    });

    poison = null;
    await a.sync();
    expect(await a.query('SELECT title FROM todos')).toEqual([{ title: 'boom' }]);
    expect(await a.query('SELECT n FROM list_counts')).toEqual([{ n: 1 }]);
  });
});

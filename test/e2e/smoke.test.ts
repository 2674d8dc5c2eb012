import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { betterSqlite3WorkerDriver } from '@ferry/client/better-sqlite3-worker';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

describe('smoke', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('pushes a write from one device and pulls it on another', async () => {
    const a = await h.client('a');
    const b = await h.client('b');
    const listId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'Groceries' });
      tx.insert('todos', { id: uuid(), list_id: listId, title: 'milk' });
    });
    const ra = await a.sync();
    expect(ra.pushed).toBe(2);
    const rb = await b.sync();
    expect(rb.hydrated).toBe(true);
    expect(await rowsOf(b, 'todos')).toEqual(await rowsOf(a, 'todos'));
    expect(await rowsOf(a, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
    expect((await rowsOf(a, 'lists'))[0]!.updated_at).not.toBeNull();
  });

  it('syncs the same way when the databases run in worker threads', async () => {
    const a = await h.client('a', 'alice', { driver: betterSqlite3WorkerDriver(h.dbPath('a')) });
    const b = await h.client('b', 'alice', { driver: betterSqlite3WorkerDriver(h.dbPath('b')) });
    const listId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'Groceries' });
      for (let i = 0; i < 50; i++)
        tx.insert('todos', { id: uuid(), list_id: listId, title: `t${i}` });
    });
    expect((await a.sync()).pushed).toBe(51);
    expect((await b.sync()).hydrated).toBe(true);
    await b.write((tx) => tx.update('lists', listId, { name: 'Shopping' }));
    await b.sync();
    await a.sync();
    expect(await rowsOf(a, 'lists')).toEqual(await rowsOf(b, 'lists'));
    expect(await rowsOf(b, 'todos')).toEqual(await serverRows(h, 'alice', 'todos'));
    expect((await rowsOf(a, 'lists'))[0]!.name).toBe('Shopping');
    expect(a.status.pending).toBe(0);
  });
});

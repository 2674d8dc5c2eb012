import { afterEach, beforeEach, describe, expect, it } from 'vitest';
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
});

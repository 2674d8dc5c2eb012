import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '@ferry/protocol';
import { rowsOf, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

describe('the integrity gate', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /** Raw SQL on the server's file by "another process", with its foreign keys off. */
  function serverSql(sql: string, params: unknown[] = []) {
    const db = new Database(join(h.dir, 'server.db'));
    db.pragma('foreign_keys = OFF');
    db.prepare(sql).run(...params);
    db.close();
  }

  it('refuses a page whose child references a missing parent: nothing applied, checkpoint kept, violation in the status', async () => {
    const a = await h.client('a');
    await a.sync();
    const peer = await h.client('peer');
    const goodList = uuid();
    await peer.write((tx) => tx.insert('lists', { id: goodList, name: 'fine' }));
    await peer.sync();
    const orphan = uuid();
    const missing = uuid();
    serverSql(
      "INSERT INTO todos (id, owner_id, list_id, title, done) VALUES (?, 'alice', ?, 'orphan', 0)",
      [orphan, missing],
    );
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'integrity_violation')).toBe(true);
    const status = await a.readStatus();
    expect(status.checkpoint).toBe(0);
    expect(status.integrity?.violations).toEqual([
      {
        table: 'todos',
        pk: orphan,
        column: 'list_id',
        parentTable: 'lists',
        parentPk: missing,
        required: true,
      },
    ]);
    expect(status.lastError?.code).toBe('integrity_violation');
    expect(await rowsOf(a, 'lists')).toEqual([]);
    expect(await rowsOf(a, 'todos')).toEqual([]);
    // Once the server has the parent, the same bundles pass the gate.
    serverSql("INSERT INTO lists (id, owner_id, name) VALUES (?, 'alice', 'repaired')", [missing]);
    const report = await a.sync();
    expect(report.checkpoint).toBe(3);
    expect((await rowsOf(a, 'todos')).map((t) => t.id)).toEqual([orphan]);
    expect((await a.readStatus()).integrity).toBeNull();
  });

  it('refuses a page that deletes a parent but keeps its child', async () => {
    const a = await h.client('a');
    const listId = uuid();
    const todoId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id: todoId, list_id: listId, title: 't' });
    });
    await a.sync();
    serverSql('DELETE FROM lists WHERE id = ?', [listId]);
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'integrity_violation')).toBe(true);
    expect(a.status.integrity?.violations[0]).toMatchObject({
      table: 'todos',
      pk: todoId,
      parentPk: listId,
    });
    expect((await rowsOf(a, 'lists')).map((l) => l.id)).toEqual([listId]);
    expect((await a.readStatus()).checkpoint).toBe(1);
  });
});

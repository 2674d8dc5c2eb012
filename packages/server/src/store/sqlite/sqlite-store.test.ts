import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema, type Change } from '@ferry/protocol';
import { RESTRICT_CHAIN, tempDir } from '../../test-support/harness.js';
import { openMemoryStore } from '../../test-support/store-factories.js';
import type { BackendWriteTx } from '../server-store.js';
import { createSqliteStore } from './sqlite-store.js';

// The contract suite runs over the SQLite and PostgreSQL stores in ../store-contract.pg.test.ts
// (the SQLite half runs even where PostgreSQL is missing).

describe('the SQLite store', () => {
  it('works in memory for pushes, pulls, snapshots and backend writes', async () => {
    const t = await openMemoryStore();
    try {
      await t.external.insertList('8c1b3f0e-8a4b-4c41-9a5e-0c7d1c1e2a10', 'alice', 'raw');
      const outcome = await t.store.pull({ userId: 'alice', after: 0, limit: 10 });
      expect(outcome.kind === 'page' && outcome.page.bundles.length).toBe(1);
      const reader = await t.store.snapshot('alice');
      const rows = [];
      for await (const batch of reader.rows()) rows.push(...batch);
      await reader.close();
      expect(rows).toHaveLength(1);
    } finally {
      await t.cleanup();
    }
  });

  it('creates real tables, foreign keys and capture triggers, and enables WAL', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    const store = createSqliteStore({ path });
    await store.open(todoSchema);
    await store.close();
    const db = new Database(path, { readonly: true });
    try {
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const fks = db.pragma('foreign_key_list(todos)') as { table: string; on_delete: string }[];
      expect(fks).toEqual([expect.objectContaining({ table: 'lists', on_delete: 'CASCADE' })]);
      const columns = db.pragma('table_info(todos)') as {
        name: string;
        type: string;
        notnull: number;
      }[];
      expect(columns.map((c) => [c.name, c.type, c.notnull])).toEqual([
        ['id', 'TEXT', 1],
        ['owner_id', 'TEXT', 1],
        ['list_id', 'TEXT', 1],
        ['title', 'TEXT', 1],
        ['done', 'INTEGER', 1],
        ['position', 'REAL', 0],
        ['updated_at', 'TEXT', 0],
      ]);
      const triggers = db
        .prepare("SELECT name FROM sqlite_master WHERE type = 'trigger' ORDER BY name")
        .pluck()
        .all();
      expect(triggers).toHaveLength(6);
    } finally {
      db.close();
      cleanup();
    }
  });

  it('answers fk_violation when a cascade runs into a restrict further down, committing nothing', async () => {
    const store = createSqliteStore({ path: ':memory:' });
    await store.open(RESTRICT_CHAIN.schema);
    try {
      const source = '0b7e2e52-5b8e-4b7c-9a56-2f0b8e4f9a10';
      const push = (sourceBundleId: number, changes: Change[]) =>
        store.push({ userId: 'u', sourceId: source, sourceBundleId, changes, now: new Date() });
      expect((await push(1, RESTRICT_CHAIN.created)).kind).toBe('committed');
      expect(await push(2, [RESTRICT_CHAIN.deleteA])).toMatchObject({
        kind: 'rejected',
        code: 'validation_failed',
        details: { errors: [{ index: 0, code: 'fk_violation' }] },
      });
      expect(await store.lastBundleSeq('u')).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('refuses to open a file made for a different schema', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    const store = createSqliteStore({ path });
    await store.open(todoSchema);
    await store.close();
    const { defineSchema } = await import('@ferry/protocol');
    const other = defineSchema({
      tables: {
        notes: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } } },
      },
    });
    const again = createSqliteStore({ path });
    await expect(again.open(other)).rejects.toMatchObject({ code: 'invalid_schema' });
    await again.close();
    cleanup();
  });

  it('releases the file on close so it can be removed and reopened', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    const store = createSqliteStore({ path });
    await store.open(todoSchema);
    await store.close();
    await store.close();
    await expect(store.pull({ userId: 'a', after: 0, limit: 1 })).rejects.toMatchObject({
      code: 'closed',
    });
    const db = new Database(path);
    db.exec('BEGIN EXCLUSIVE; COMMIT');
    db.close();
    cleanup();
  });

  it('never gives a key of a table whose keys the server assigns twice, whether Ferry or SQL that leaves the key out takes it', async () => {
    const schema = defineSchema({
      tables: {
        projects: {
          owner: 'owner_id',
          keys: 'server',
          columns: { id: { type: 'integer' }, owner_id: { type: 'text' }, name: { type: 'text' } },
        },
      },
    });
    const { dir, cleanup } = tempDir();
    const store = createSqliteStore({ path: join(dir, 'ferry.db') });
    await store.open(schema);
    try {
      const raw = (tx: BackendWriteTx, name: string) =>
        tx.execute("INSERT INTO projects (owner_id, name) VALUES ('alice', ?)", [name]);
      const keys: unknown[] = [];
      await store.write('alice', async (tx) => {
        keys.push(await tx.insert('projects', { name: 'by Ferry' }));
        await raw(tx, 'by SQL');
        await raw(tx, 'by SQL, deleted');
        await tx.execute("DELETE FROM projects WHERE name = 'by SQL, deleted'");
        // Plain rowids would give the deleted last row's key again; Ferry would too.
        await raw(tx, 'by SQL after a delete');
        keys.push(await tx.insert('projects', { name: 'by Ferry again' }));
        await tx.execute('DELETE FROM projects WHERE id = ?', [keys[1]]);
        keys.push(await tx.insert('projects', { name: 'by Ferry after a delete' }));
        await raw(tx, 'by SQL last');
        await raw(tx, 'by SQL, gone');
        await tx.execute("DELETE FROM projects WHERE name = 'by SQL, gone'");
        keys.push(await tx.insert('projects', { name: 'by Ferry last' }));
      });
      const rows = await store.write('alice', (tx) =>
        tx.query('SELECT id, name FROM projects ORDER BY id'),
      );
      expect(keys).toEqual([1, 5, 6, 9]);
      expect(rows.value).toEqual([
        { id: 1, name: 'by Ferry' },
        { id: 2, name: 'by SQL' },
        { id: 4, name: 'by SQL after a delete' },
        { id: 6, name: 'by Ferry after a delete' },
        { id: 7, name: 'by SQL last' },
        { id: 9, name: 'by Ferry last' },
      ]);
    } finally {
      await store.close();
      cleanup();
    }
  });
});

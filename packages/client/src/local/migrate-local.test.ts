import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema, schemaHistory, type Schema } from '@ferry/protocol';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { createClient } from '../ferry-client.js';

const v1 = defineSchema({
  version: 1,
  tables: {
    parents: {
      owner: 'o',
      columns: {
        id: { type: 'text' },
        o: { type: 'text' },
        name: { type: 'text', notNull: true },
      },
    },
    kids: {
      owner: 'o',
      columns: {
        id: { type: 'text' },
        o: { type: 'text' },
        parent_id: { type: 'text', references: { table: 'parents', onDelete: 'cascade' } },
        note: { type: 'text' },
      },
    },
    gone: {
      owner: 'o',
      columns: { id: { type: 'text' }, o: { type: 'text' }, v: { type: 'text' } },
    },
  },
});
const v2 = defineSchema({
  version: 2,
  tables: {
    folders: {
      owner: 'o',
      renamedFrom: 'parents',
      columns: {
        id: { type: 'text' },
        o: { type: 'text' },
        title: { type: 'text', renamedFrom: 'name' },
      },
      indexes: { by_title: { columns: ['title'] } },
    },
    kids: {
      owner: 'o',
      columns: {
        id: { type: 'text' },
        o: { type: 'text' },
        body: { type: 'text', renamedFrom: 'note' },
        size: { type: 'integer', notNull: true, default: 1 },
      },
    },
  },
});

describe('a client file migrated to a newer schema version', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const open = (schema: Schema, history?: ReturnType<typeof schemaHistory>) =>
    createClient({
      schema,
      ...(history ? { history } : {}),
      driver: betterSqlite3Driver(join(dir, 'app.db')),
      url: 'http://127.0.0.1:9',
      getToken: () => 'unused',
      autoSync: false,
    });

  it('renames, rebuilds and drops tables and columns, keeps every pending change (a dropped table’s as dead letters), in one transaction', async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-migrate-local-'));
    const old = await open(v1);
    await old.write((tx) => {
      tx.insert('parents' as never, { id: 'p', name: 'home' });
      tx.insert('kids' as never, { id: 'k', parent_id: 'p', note: 'hello' });
      tx.insert('gone' as never, { id: 'g', v: 'bye' });
    });
    expect((await old.readStatus()).pending).toBe(3);
    await old.close();

    const upgraded = await open(v2, schemaHistory(v1, v2));
    expect(await upgraded.getRow('folders' as never, 'p')).toMatchObject({
      title: 'home',
    });
    expect(await upgraded.getRow('kids' as never, 'k')).toMatchObject({
      body: 'hello',
      size: 1,
    });
    // The two kept rows still wait to be pushed, under their new names.
    expect((await upgraded.readStatus()).pending).toBe(2);
    const pending = await upgraded.query<{ tbl: string }>(
      'SELECT tbl FROM ferry_outbox ORDER BY tbl',
    );
    expect(pending.map((p) => p.tbl)).toEqual(['folders', 'kids']);
    // The dropped table's pending insert is a dead letter the app sees, with the row.
    expect(await upgraded.deadLetters()).toEqual([
      expect.objectContaining({
        table: 'gone',
        pk: 'g',
        code: 'unknown_table',
        message: 'table gone was dropped in schema version 2',
      }),
    ]);
    // title became nullable: the rebuilt table takes a null.
    await upgraded.write((tx) => tx.update('folders' as never, 'p', { title: null }));
    await upgraded.close();

    const file = new Database(join(dir, 'app.db'), { readonly: true });
    try {
      expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(file.pragma('foreign_key_check')).toEqual([]);
      const tables = file
        .prepare(
          "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'ferry_%' AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .pluck()
        .all();
      expect(tables).toEqual(['folders', 'kids']);
      expect(
        file
          .prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'index' AND name = 'ix_folders_by_title'",
          )
          .pluck()
          .get(),
      ).toBe('ix_folders_by_title');
      expect(
        file.prepare("SELECT value FROM ferry_state WHERE key = 'schema_version'").pluck().get(),
      ).toBe(2);
    } finally {
      file.close();
    }
  });
});

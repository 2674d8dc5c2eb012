import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { affectedTables } from './affected-tables.js';
import { statementTablesReader } from './read-statement-tables.js';
import { tablesOfPlan } from './statement-tables.js';

function reader() {
  const driver = betterSqlite3Driver(new Database(':memory:'));
  const ready = driver.exec(`
    CREATE TABLE lists (id TEXT PRIMARY KEY, name TEXT);
    CREATE TABLE todos (id TEXT PRIMARY KEY, list_id TEXT REFERENCES lists(id), title TEXT);
    CREATE INDEX todos_list ON todos (list_id);
    CREATE TABLE tags (todo_id TEXT, tag TEXT, PRIMARY KEY (todo_id, tag)) WITHOUT ROWID;
    CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);
    CREATE VIEW open_todos AS SELECT t.* FROM todos t JOIN lists l ON l.id = t.list_id;
  `);
  const tablesOf = statementTablesReader(driver);
  return async (sql: string) => {
    await ready;
    const { reads, writes } = await tablesOf(
      sql,
      Array.from(sql.matchAll(/\?/g), () => null),
    );
    return { reads: [...reads].sort(), writes: [...writes].sort() };
  };
}

describe('the tables of a statement, as SQLite tells them', () => {
  it('are the tables a query reads: joins, subqueries, views, an index-only read, a WITHOUT ROWID table', async () => {
    const tablesOf = reader();
    expect(await tablesOf('SELECT * FROM todos WHERE title = ?')).toEqual({
      reads: ['todos'],
      writes: [],
    });
    expect(
      await tablesOf(
        'SELECT l.name, count(t.id) FROM lists l LEFT JOIN todos t ON t.list_id = l.id GROUP BY l.id',
      ),
    ).toMatchObject({ reads: ['lists', 'todos'] });
    expect(
      await tablesOf('SELECT name FROM lists WHERE id IN (SELECT list_id FROM todos)'),
    ).toMatchObject({ reads: ['lists', 'todos'] });
    expect(await tablesOf('SELECT * FROM open_todos')).toMatchObject({ reads: ['lists', 'todos'] });
    expect(await tablesOf('SELECT count(*) FROM todos WHERE list_id = ?')).toMatchObject({
      reads: ['todos'],
    });
    expect(await tablesOf("SELECT tag FROM tags WHERE todo_id = 'x'")).toMatchObject({
      reads: ['tags'],
    });
    expect(
      await tablesOf('WITH n AS (SELECT body FROM notes) SELECT count(*) FROM n'),
    ).toMatchObject({ reads: ['notes'] });
    expect(await tablesOf('SELECT 1')).toEqual({ reads: [], writes: [] });
  });

  it('are the tables a write changes', async () => {
    const tablesOf = reader();
    expect(await tablesOf("UPDATE todos SET title = 'x' WHERE id = ?")).toMatchObject({
      writes: ['todos'],
    });
    expect(await tablesOf('DELETE FROM notes')).toMatchObject({ writes: ['notes'] });
    expect(await tablesOf('INSERT INTO notes (body) SELECT title FROM todos')).toEqual({
      reads: ['todos'],
      writes: ['notes'],
    });
  });

  it('leave out other databases (temp) and pages no table owns', () => {
    const objects = [{ rootpage: 2, tbl_name: 'todos' }];
    expect(
      tablesOfPlan(
        [
          { opcode: 'OpenRead', p1: 0, p2: 2, p3: 1 },
          { opcode: 'OpenRead', p1: 0, p2: 9, p3: 0 },
          { opcode: 'OpenWrite', p1: 0, p2: 2, p3: 0 },
          { opcode: 'Column', p1: 0, p2: 2, p3: 0 },
        ],
        objects,
      ),
    ).toEqual({ reads: new Set(), writes: new Set(['todos']) });
  });
});

describe('the tables a write can change', () => {
  it('are its own and those its deletes reach through cascade and set-null references', () => {
    const schema = defineSchema({
      tables: {
        lists: {
          owner: 'owner_id',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
          },
        },
        todos: {
          owner: 'owner_id',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
            list_id: { type: 'uuid', references: { table: 'lists', onDelete: 'cascade' } },
          },
        },
        notes: {
          owner: 'owner_id',
          columns: {
            id: { type: 'uuid' },
            owner_id: { type: 'text' },
            todo_id: { type: 'uuid', references: { table: 'todos', onDelete: 'set null' } },
            list_id: { type: 'uuid', references: { table: 'lists', onDelete: 'restrict' } },
          },
        },
      },
    });
    expect([...affectedTables(schema, ['lists'])].sort()).toEqual(['lists', 'notes', 'todos']);
    expect([...affectedTables(schema, ['notes'])]).toEqual(['notes']);
    expect([...affectedTables(schema, ['local_only'])]).toEqual(['local_only']);
  });
});

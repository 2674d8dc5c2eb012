/**
 * End to end on PostgreSQL: a row that backend code changes with plain SQL (as psql would)
 * reaches a client's SQLite file through a real server over HTTP on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, expect, it } from 'vitest';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer, signToken } from '@ferry/server';
import { createPostgresStore } from '@ferry/server/postgres';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';

const SECRET = 'e2e-pg-secret-of-at-least-32-bytes!';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePg('plain SQL on PostgreSQL, end to end', () => {
  it('brings a row changed by plain SQL into a client’s SQLite file on its next sync', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const server = await createFerryServer({
      schema: todoSchema,
      store: createPostgresStore({
        connectionString: DATABASE_URL,
        schemaName: schemas.meta,
        businessSchema: schemas.business,
        pool: { max: 4 },
      }),
      auth: { jwtSecret: SECRET },
      logger: false,
      limits: { rateLimit: false },
    });
    cleanups.push(() => server.close());
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-pg-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'device.db');
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const client = await createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(file),
      url,
      getToken: () => token,
      // This test runs every sync itself.
      autoSync: false,
    });
    cleanups.push(() => client.close());

    const listId = crypto.randomUUID();
    await client.write((tx) => {
      tx.insert('lists', { id: listId, name: 'Groceries' });
    });
    expect((await client.sync()).pushed).toBe(1);

    // Backend code, straight on the database: rename the list and add a todo to it.
    const todoId = crypto.randomUUID();
    const b = `"${schemas.business}"`;
    await adminQuery(
      `UPDATE ${b}.lists SET name = 'Groceries (shared by support)' WHERE id = $1;`,
      [listId],
    );
    await adminQuery(
      `INSERT INTO ${b}.todos (id, owner_id, list_id, title, done) VALUES ($1, 'alice', $2, 'added with psql', true)`,
      [todoId, listId],
    );

    await client.sync();
    expect(await client.getRow('lists', listId)).toMatchObject({
      name: 'Groceries (shared by support)',
    });
    // In the device's own file, as the app's SQL sees it.
    const db = new Database(file, { readonly: true });
    try {
      expect(db.prepare('SELECT name FROM lists WHERE id = ?').get(listId)).toEqual({
        name: 'Groceries (shared by support)',
      });
      expect(db.prepare('SELECT title, done, list_id FROM todos WHERE id = ?').get(todoId)).toEqual(
        { title: 'added with psql', done: 1, list_id: listId },
      );
    } finally {
      db.close();
    }
  });
});

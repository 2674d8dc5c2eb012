/**
 * End to end on PostgreSQL: tables a backend team made and filled with plain SQL, adopted by a
 * real server over HTTP on 127.0.0.1, reach a device's SQLite file; the device's edit of an
 * adopted row commits against the adopted row state.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createClient } from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer, signToken } from '@ferry/server';
import { createPostgresStore } from '@ferry/server/postgres';
import { projectSchema } from '../support/project-schema.js';
import { makeHandMadeTodoTables } from '../../packages/server/src/store/postgres/test-support/hand-made-tables.js';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  testSchemas,
} from '../../packages/server/src/store/postgres/test-support/pg-test-database.js';

const SECRET = 'e2e-pg-adopt-secret-of-at-least-32-bytes';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

describePg('adopting tables made by plain SQL, end to end', () => {
  it('hydrates a device with the existing rows, and commits its edit of an adopted row', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    await makeHandMadeTodoTables(schemas.business, { users: 2, lists: 40, todosPerList: 5 });
    const b = `"${schemas.business}"`;

    const server = await createFerryServer({
      schema: todoSchema,
      store: createPostgresStore({
        connectionString: DATABASE_URL,
        schemaName: schemas.meta,
        businessSchema: schemas.business,
        pool: { max: 4 },
        adopt: true,
        adoptBatchRows: 25,
      }),
      auth: { jwtSecret: SECRET },
      logger: false,
      limits: { rateLimit: false },
    });
    cleanups.push(() => server.close());
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-adopt-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));

    const device = async (name: string, userId: string, initialSync?: 'pull') => {
      const token = await signToken({ secret: SECRET, userId });
      const client = await createClient({
        schema: todoSchema,
        driver: betterSqlite3Driver(join(dir, `${name}.db`)),
        url,
        getToken: () => token,
        autoSync: false,
        ...(initialSync ? { initialSync } : {}),
      });
      cleanups.push(() => client.close());
      return client;
    };

    const alice = await device('alice', 'user-0');
    const first = await alice.sync();
    expect(first.hydrated).toBe(true);
    const expected = await adminQuery(
      `SELECT id::text AS id, title FROM ${b}.todos WHERE owner_id = 'user-0' ORDER BY id`,
    );
    expect(expected).toHaveLength(100);
    expect(await alice.query('SELECT id, title FROM todos ORDER BY id')).toEqual(expected);
    expect(await alice.query('SELECT count(*) AS n FROM lists')).toEqual([{ n: 20 }]);

    // An edit of an adopted row, based on its adopted version, commits.
    const todo = String(expected[0]!.id);
    await alice.write((tx) => {
      tx.update('todos', todo, { title: 'edited on the device', done: true });
    });
    const pushed = await alice.sync();
    expect(pushed.pushed).toBe(1);
    expect(pushed.conflicts).toEqual([]);
    expect(
      await adminQuery(`SELECT title, done, legacy_note FROM ${b}.todos WHERE id = $1`, [todo]),
    ).toEqual([{ title: 'edited on the device', done: true, legacy_note: null }]);

    // A new row from the device: the columns the schema does not declare get their defaults.
    const listId = crypto.randomUUID();
    await alice.write((tx) => {
      tx.insert('lists', { id: listId, name: 'made on the device' });
    });
    expect((await alice.sync()).pushed).toBe(1);
    expect(
      await adminQuery(`SELECT owner_id, name, archived FROM ${b}.lists WHERE id = $1`, [listId]),
    ).toEqual([{ owner_id: 'user-0', name: 'made on the device', archived: false }]);

    // Backend code goes on writing with plain SQL; the device pulls it as usual.
    await adminQuery(`UPDATE ${b}.lists SET name = 'renamed by SQL' WHERE id = $1`, [
      (await alice.query<{ list_id: string }>('SELECT list_id FROM todos WHERE id = ?', [todo]))[0]!
        .list_id,
    ]);
    const pulled = await alice.sync();
    expect(pulled.hydrated).toBe(false);
    expect(pulled.pulled).toBe(1);

    // A device that starts by pulling from 0 is told to hydrate, and then has the rows too.
    const bob = await device('bob', 'user-1', 'pull');
    const report = await bob.sync();
    expect(report.hydrated).toBe(true);
    expect(await bob.query('SELECT count(*) AS n FROM todos')).toEqual([{ n: 100 }]);
    expect(
      await bob.query('SELECT count(*) AS n FROM todos WHERE owner_id <> ?', ['user-1']),
    ).toEqual([{ n: 0 }]);
  });
});

describePg('adopting a table whose keys the server assigns', () => {
  it('takes new keys from the table’s own sequence, after its rows and beside backend inserts', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const b = `"${schemas.business}"`;
    await adminQuery(`CREATE SCHEMA IF NOT EXISTS ${b}`);
    await adminQuery(`CREATE TABLE ${b}.projects (
      id bigserial PRIMARY KEY, owner_id text NOT NULL, name text NOT NULL)`);
    await adminQuery(`CREATE TABLE ${b}.tasks (
      id uuid PRIMARY KEY, owner_id text NOT NULL,
      project_id bigint REFERENCES ${b}.projects (id) ON DELETE CASCADE, title text NOT NULL)`);
    await adminQuery(`CREATE TABLE ${b}.notes (
      id uuid PRIMARY KEY, owner_id text NOT NULL,
      task_id uuid REFERENCES ${b}.tasks (id) ON DELETE CASCADE, body text NOT NULL)`);
    await adminQuery(
      `INSERT INTO ${b}.projects (owner_id, name) SELECT 'alice', 'old ' || n FROM generate_series(1, 3) AS n`,
    );

    const server = await createFerryServer({
      schema: projectSchema,
      store: createPostgresStore({
        connectionString: DATABASE_URL,
        schemaName: schemas.meta,
        businessSchema: schemas.business,
        pool: { max: 4 },
        adopt: true,
      }),
      auth: { jwtSecret: SECRET },
      logger: false,
      limits: { rateLimit: false },
    });
    cleanups.push(() => server.close());
    const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-e2e-adopt-keys-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const token = await signToken({ secret: SECRET, userId: 'alice' });
    const client = await createClient({
      schema: projectSchema,
      driver: betterSqlite3Driver(join(dir, 'alice.db')),
      url,
      getToken: () => token,
      autoSync: false,
    });
    cleanups.push(() => client.close());
    await client.sync();
    expect(await client.query('SELECT id FROM projects ORDER BY id')).toEqual([
      { id: 1 },
      { id: 2 },
      { id: 3 },
    ]);

    let temp: number | string = 0;
    await client.write((tx) => {
      temp = tx.insert('projects', { name: 'new' });
      tx.insert('tasks', { project_id: temp as number, title: 'first' });
    });
    await client.sync();
    expect(await client.resolveKey('projects', temp)).toBe(4);
    // Backend code that leaves the key out draws from the same sequence.
    const [backend] = await adminQuery(
      `INSERT INTO ${b}.projects (owner_id, name) VALUES ('alice', 'backend') RETURNING id::integer AS id`,
    );
    expect(backend).toEqual({ id: 5 });
    expect(
      await adminQuery(
        `SELECT p.id::integer AS id, t.title FROM ${b}.tasks t JOIN ${b}.projects p ON p.id = t.project_id`,
      ),
    ).toEqual([{ id: 4, title: 'first' }]);
  });
});

import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema, isFerryError, type FerryError } from '@ferry/protocol';
import { betterSqlite3Driver } from './drivers/better-sqlite3.js';
import { createClient } from './ferry-client.js';
import { createManualClock } from './scheduler/clock.js';
import { createSeededRandom } from './scheduler/seeded-random.js';
import type { ClientOptions, ClientStatus } from './types.js';

/** An unsigned JWT-shaped token for `sub` (the client only reads the claim; no server here). */
function tokenFor(sub: string): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none' })}.${part({ sub })}.sig`;
}

describe('the client without a server', () => {
  let dir: string;
  let url: string;
  let clock: number;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-client-'));
    clock = 1_000_000;
    // A port nothing listens on: every request fails with a refused connection.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (options: Partial<ClientOptions<typeof todoSchema>> = {}) =>
    createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(join(dir, 'app.db')),
      url,
      getToken: () => tokenFor('alice'),
      now: () => clock,
      // These tests drive every cycle themselves.
      autoSync: false,
      ...options,
    });

  const LIST = '11111111-1111-4111-8111-111111111111';
  const TODO = '22222222-2222-4222-8222-222222222222';

  it('writes locally and reads back typed rows', async () => {
    await using client = await open();
    await client.write((tx) => {
      tx.insert('lists', { id: LIST, name: 'L' });
      tx.insert('todos', { id: TODO, list_id: LIST, title: 'milk' });
      tx.update('todos', TODO, { done: true, position: 1.5 });
    });
    expect(await client.getRow('todos', TODO)).toEqual({
      id: TODO,
      owner_id: null,
      list_id: LIST,
      title: 'milk',
      done: true,
      position: 1.5,
      updated_at: null,
    });
    expect(await client.get('SELECT done FROM todos')).toEqual({ done: 1 });
    await client.write((tx) => tx.delete('todos', TODO));
    expect(await client.getRow('todos', TODO)).toBeUndefined();
  });

  it('says in its status where its database lives, as the driver tells it', async () => {
    await using onFile = await open();
    expect(onFile.status.storage).toBe('file');
    await using inMemory = await open({ driver: betterSqlite3Driver(':memory:') });
    expect(inMemory.status.storage).toBe('memory');
    const silent = betterSqlite3Driver(new Database(':memory:'));
    await using unknown = await open({
      driver: {
        run: (sql, params) => silent.run(sql, params),
        all: (sql, params) => silent.all(sql, params),
        exec: (sql) => silent.exec(sql),
        batch: (statements) => silent.batch(statements),
        close: () => silent.close(),
      },
    });
    expect(unknown.status.storage).toBe('unknown');
  });

  it('refuses a bad value before writing anything', async () => {
    await using client = await open();
    const attempt = client.write((tx) => {
      tx.insert('lists', { id: LIST, name: 'L' });
      tx.insert('todos', { id: TODO, list_id: LIST, title: 'x'.repeat(501) });
    });
    await expect(attempt).rejects.toMatchObject({ code: 'invalid_argument' });
    await expect(
      client.write((tx) => tx.insert('lists', { id: 'not-a-uuid', name: 'L' })),
    ).rejects.toThrow(/lists.id must be a lower-case UUID/);
    await expect(
      client.write((tx) => tx.insert('lists', { id: LIST, name: 'L', color: 'red' } as never)),
    ).rejects.toThrow(/no column "color"/);
    expect(await client.query('SELECT * FROM lists')).toEqual([]);
    expect((await client.readStatus()).pending).toBe(0);
  });

  it('rolls back a whole write whose callback throws, also after it read inside', async () => {
    await using client = await open();
    const failing = client.write(async (tx) => {
      tx.insert('lists', { id: LIST, name: 'L' });
      expect(await tx.get('SELECT name FROM lists')).toEqual({ name: 'L' });
      throw new Error('changed my mind');
    });
    await expect(failing).rejects.toThrow('changed my mind');
    expect(await client.query('SELECT * FROM lists')).toEqual([]);
    expect((await client.readStatus()).pending).toBe(0);
  });

  it('captures plain SQL writes, through the client and through another connection', async () => {
    await using client = await open();
    await client.execute('INSERT INTO lists (id, name) VALUES (?, ?)', [LIST, 'raw']);
    const other = new Database(join(dir, 'app.db'));
    other
      .prepare('INSERT INTO todos (id, list_id, title) VALUES (?, ?, ?)')
      .run(TODO, LIST, 'raw todo');
    other.close();
    expect((await client.readStatus()).pending).toBe(2);
  });

  it('coalesces pending changes per row and reports the oldest pending age', async () => {
    await using client = await open();
    await client.write((tx) => tx.insert('lists', { id: LIST, name: 'a' }));
    clock += 5_000;
    await client.write((tx) => tx.update('lists', LIST, { name: 'b' }));
    await client.write((tx) => tx.insert('todos', { id: TODO, list_id: LIST, title: 't' }));
    await client.write((tx) => tx.delete('todos', TODO));
    clock += 1_000;
    expect(await client.readStatus()).toMatchObject({
      pending: 1,
      oldestPendingAt: 1_000_000,
      oldestPendingAgeMs: 6_000,
      inFlight: null,
      checkpoint: null,
    });
  });

  it('never captures its own applying of server data, and a rollback cannot leave capture off', async () => {
    await using client = await open();
    const db = new Database(join(dir, 'app.db'));
    db.exec('BEGIN');
    db.exec('UPDATE ferry_capture SET applying = 1');
    db.prepare("INSERT INTO lists (id, name) VALUES (?, 'applied')").run(LIST);
    expect(db.prepare('SELECT count(*) AS n FROM ferry_log WHERE tbl IS NOT NULL').get()).toEqual({
      n: 0,
    });
    db.exec('ROLLBACK');
    expect(db.prepare('SELECT applying FROM ferry_capture').get()).toEqual({ applying: 0 });
    db.close();
    await client.execute("INSERT INTO lists (id, name) VALUES (?, 'local')", [LIST]);
    expect((await client.readStatus()).pending).toBe(1);
  });

  it('fails a cycle with a typed network error, keeps the outbox, and reports it', async () => {
    const errors: FerryError[] = [];
    await using client = await open({ onError: (e) => errors.push(e) });
    await client.write((tx) => tx.insert('lists', { id: LIST, name: 'L' }));
    const error = await client.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'network')).toBe(true);
    expect(errors).toEqual([error]);
    expect(client.status).toMatchObject({
      state: 'error',
      pending: 1,
      lastError: error,
      userId: 'alice',
    });
  });

  it('keeps its source id and user across restarts and refuses another', async () => {
    const first = await open();
    const sourceId = first.sourceId;
    await first.sync().catch(() => undefined);
    await first.close();
    const again = await open();
    expect(again.sourceId).toBe(sourceId);
    expect(again.status.userId).toBe('alice');
    await again.close();
    await expect(open({ sourceId: '33333333-3333-4333-8333-333333333333' })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    const bob = await open({ getToken: () => tokenFor('bob') });
    await expect(bob.sync()).rejects.toThrow(/token is for user "bob"/);
    await bob.close();
  });

  it('adapts the file to a changed schema and hydrates again on the next sync', async () => {
    const first = await open();
    await first.close();
    const grown = defineSchema({
      tables: {
        ...todoSchema.declaration.tables,
        lists: {
          ...todoSchema.declaration.tables.lists,
          columns: { ...todoSchema.declaration.tables.lists.columns, color: { type: 'text' } },
        },
        tags: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } } },
      },
    });
    const client = await createClient({
      schema: grown,
      driver: betterSqlite3Driver(join(dir, 'app.db')),
      url,
      getToken: () => tokenFor('alice'),
      autoSync: false,
    });
    await client.write((tx) => tx.insert('lists', { id: LIST, name: 'L', color: 'blue' }));
    expect(await client.get('SELECT color FROM lists')).toEqual({ color: 'blue' });
    expect(await client.get("SELECT value FROM ferry_state WHERE key = 'needs_hydration'")).toEqual(
      {
        value: 1,
      },
    );
    await client.execute('INSERT INTO tags (id) VALUES (?)', [TODO]);
    expect((await client.readStatus()).pending).toBe(2);
    await client.close();
  });

  it('closes once and then refuses every call', async () => {
    const client = await open();
    await Promise.all([client.close(), client.close()]);
    expect(client.status.state).toBe('closed');
    await expect(client.sync()).rejects.toMatchObject({ code: 'closed' });
    await expect(client.write(() => undefined)).rejects.toMatchObject({ code: 'closed' });
    await expect(client.query('SELECT 1')).rejects.toMatchObject({ code: 'closed' });
  });

  it('refuses a schema policy that names no resolver', async () => {
    const schema = defineSchema({
      tables: {
        notes: {
          owner: 'owner_id',
          conflictPolicy: 'mine',
          columns: { id: { type: 'uuid' }, owner_id: { type: 'text' } },
        },
      },
    });
    const options = {
      schema,
      driver: betterSqlite3Driver(join(dir, 'notes.db')),
      url,
      getToken: () => tokenFor('alice'),
      autoSync: false,
    };
    await expect(createClient(options)).rejects.toThrow(/conflict policy "mine"/);
    const client = await createClient({
      ...options,
      driver: betterSqlite3Driver(join(dir, 'notes.db')),
      resolvers: { mine: () => ({ kind: 'adopt-server' }) },
    });
    await client.close();
  });
});

describe('the client syncing by itself without a server', () => {
  const LIST = '11111111-1111-4111-8111-111111111111';
  let dir: string;
  let url: string;
  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-client-auto-'));
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const open = (options: Partial<ClientOptions<typeof todoSchema>> = {}) =>
    createClient({
      schema: todoSchema,
      driver: betterSqlite3Driver(join(dir, 'app.db')),
      url,
      getToken: () => tokenFor('alice'),
      clock: createManualClock(1_000_000),
      random: createSeededRandom(3),
      realtime: false,
      ...options,
    });

  const settledState = async (client: { status: ClientStatus }, state: string) => {
    for (let i = 0; i < 200 && client.status.state !== state; i++) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(client.status.state).toBe(state);
  };

  it('starts a cycle at once, and shows its failure and the retry in the status', async () => {
    const errors: FerryError[] = [];
    await using client = await open({ onError: (e) => errors.push(e) });
    expect(client.status).toMatchObject({ autoSync: true, state: 'pushing', realtime: 'off' });
    await settledState(client, 'backoff');
    expect(client.status).toMatchObject({
      consecutiveFailures: 1,
      circuit: 'closed',
      lastError: { code: 'network' },
      lastFailure: { class: 'transient', code: 'network' },
    });
    expect(client.status.nextRetryAt).toBeGreaterThanOrEqual(1_000_000);
    expect(errors.map((e) => e.code)).toEqual(['network']);
    expect(client.metrics()).toMatchObject({ cycles: 1, cyclesFailed: 1, rowsPushed: 0 });
    // syncNow never rejects: it says how the cycle it ran went.
    const result = await client.syncNow();
    expect(result).toMatchObject({ ok: false, status: { lastError: { code: 'network' } } });
  });

  it('asks the online probe first, counts a probe that throws as offline and reports it', async () => {
    const errors: FerryError[] = [];
    await using client = await open({
      online: () => {
        throw new Error('no network interface');
      },
      onError: (e) => errors.push(e),
    });
    expect(client.status).toMatchObject({ state: 'offline', online: false });
    expect(errors[0]?.message).toContain('the online probe failed: no network interface');
    expect(client.metrics().cycles).toBe(0);
  });

  it('checks its scheduling options and arguments', async () => {
    await expect(open({ autoSync: { debounceMs: -1 } })).rejects.toMatchObject({
      code: 'invalid_argument',
    });
    await expect(open({ onlineProbeIntervalMs: 0 })).rejects.toThrow(/onlineProbeIntervalMs/);
    await using client = await open({ online: false });
    expect(() => client.setOnline('yes' as unknown as boolean)).toThrow(/boolean/);
    expect(() => client.setForeground(1 as unknown as boolean)).toThrow(/boolean/);
  });

  it('close() stops the scheduler: nothing runs afterwards and syncNow says no', async () => {
    const clock = createManualClock(1_000_000);
    const client = await open({ clock, online: false });
    await client.write((tx) => tx.insert('lists', { id: LIST, name: 'kept' }));
    await client.close();
    expect(client.status.state).toBe('closed');
    expect(clock.pendingTimers()).toBe(0);
    expect(await client.syncNow()).toMatchObject({ ok: false });
    client.setOnline(true); // ignored once closed
    expect(client.metrics().cycles).toBe(0);
    await using again = await open({ autoSync: false });
    expect((await again.readStatus()).pending).toBe(1);
  });
});

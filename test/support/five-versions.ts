/**
 * The scenario of issue 14 on one server (of any store): a version 1 device writes, the server is
 * updated to the example's version 5 (it migrates on start), and devices of versions 1 to 5 write
 * and read at the same time. Afterwards every row is what every version wrote, in each device's
 * own shape, and no push reset a column its device does not know.
 */
import { expect } from 'vitest';
import type { Schema } from '@ferry/protocol';
import type { FerryClient } from '@ferry/client';
import { todoHistory, todoSchema, todoV2, todoV3, todoV4, todoV5 } from '@ferry/example-todo';
import { rowsOf, serverRows, uuid, type Harness } from './ferry-harness.js';

type AnyClient = FerryClient<Schema>;

/** Syncs every client in turn, `rounds` times: each sees what the others pushed. */
async function syncAll(clients: readonly AnyClient[], rounds = 2): Promise<void> {
  for (let round = 0; round < rounds; round++) {
    for (const client of clients) await client.sync();
  }
}

function byId(rows: Record<string, unknown>[]): Map<unknown, Record<string, unknown>> {
  return new Map(rows.map((row) => [row['id'], row]));
}

/** Local changes not yet committed: pending rows and the bundle in flight. */
export async function unsent(client: AnyClient): Promise<number> {
  const status = await client.readStatus();
  return status.pending + (status.inFlight?.committedSeq === null ? status.inFlight.changes : 0);
}

/** Runs the scenario on `h`, a harness whose server runs the example's version 1. */
export async function fiveVersionsOnOneServer(h: Harness<Schema>): Promise<void> {
  const list = uuid();
  const [a, b, c, d, tag] = [uuid(), uuid(), uuid(), uuid(), uuid()];
  const c1 = (await h.client('v1', 'alice', { schema: todoSchema })) as unknown as AnyClient;
  await c1.write((tx) => {
    tx.insert('lists', { id: list, name: 'L' });
    tx.insert('todos', { id: a, list_id: list, title: 'a', position: 42.5 });
    tx.insert('todos', { id: b, list_id: list, title: 'b', position: null });
  });
  await c1.sync();

  // The server is updated to version 5: it migrates on start (the backfill gives a
  // priority of 42), and serves all five versions.
  await h.stopServer();
  h.setServerOptions({ schema: todoHistory });
  await h.startServer();
  const clients: AnyClient[] = [c1];
  for (const [name, schema] of [
    ['v2', todoV2],
    ['v3', todoV3],
    ['v4', todoV4],
    ['v5', todoV5],
  ] as const) {
    clients.push(await h.client(name, 'alice', { schema: schema }));
  }
  const [, c2, c3, c4, c5] = clients as [AnyClient, AnyClient, AnyClient, AnyClient, AnyClient];
  await syncAll(clients, 1);
  expect(await c2.getRow('todos' as never, a as never)).toMatchObject({
    title: 'a',
    priority: 42,
    position: null,
  });

  // Each version writes what it knows.
  await c1.write((tx) => {
    tx.update('todos', a, { done: true });
    tx.update('todos', b, { title: 'b1' });
    tx.insert('todos', { id: c, list_id: list, title: 'c', position: 7 });
  });
  await c2.write((tx) => tx.update('todos' as never, a as never, { priority: 5 }));
  await c3.write((tx) => tx.insert('tags' as never, { id: tag, list_id: list, label: 'home' }));
  await c4.write((tx) => tx.update('todos' as never, a as never, { text: 'a4' }));
  await c5.write((tx) =>
    tx.insert('todos' as never, { id: d, list_id: list, text: 'd', priority: 2 }),
  );
  await syncAll(clients, 3);

  // The server holds every version's writes, in version 5's shape.
  const server = byId(await serverRows(h, 'alice', 'todos'));
  expect(server.get(a)).toMatchObject({ text: 'a4', done: true, priority: 5 });
  expect(server.get(b)).toMatchObject({ text: 'b1', done: false, priority: 0 });
  expect(server.get(c)).toMatchObject({ text: 'c', priority: 0 });
  expect(server.get(d)).toMatchObject({ text: 'd', priority: 2 });
  expect(server.get(a)).not.toHaveProperty('position');
  expect(await serverRows(h as never, 'alice', 'tags')).toEqual([
    expect.objectContaining({ id: tag, label: 'home' }),
  ]);

  // Each client reads the same rows in its version's shape.
  const seen = async (client: AnyClient) => byId(await rowsOf(client, 'todos'));
  const v1 = await seen(c1);
  expect(v1.get(a)).toEqual(expect.objectContaining({ title: 'a4', done: true }));
  expect(v1.get(a)).not.toHaveProperty('priority');
  expect(v1.get(d)).toMatchObject({ title: 'd' });
  const v2 = await seen(c2);
  expect(v2.get(a)).toMatchObject({ title: 'a4', done: true, priority: 5 });
  expect(v2.get(d)).toMatchObject({ title: 'd', priority: 2 });
  const v4 = await seen(c4);
  expect(v4.get(b)).toMatchObject({ text: 'b1', priority: 0 });
  const v5 = await seen(c5);
  expect(v5.get(c)).toMatchObject({ text: 'c', priority: 0 });
  expect(await rowsOf(c3, 'tags')).toEqual([expect.objectContaining({ id: tag })]);
  expect(await rowsOf(c5, 'tags')).toEqual([expect.objectContaining({ id: tag })]);
  // The version 1 device wrote `position` 7, a column the server dropped in version 5: the
  // push was taken, the value has no column to live in, and the device's copy shows the
  // column's default, as every version 1 device does (documented in schema-versions.md).
  expect(v1.get(c)).toMatchObject({ title: 'c', position: null });
  // Nothing waits, nothing was refused.
  for (const client of clients) {
    expect(await unsent(client)).toBe(0);
    expect(await client.deadLetters()).toEqual([]);
    expect(await client.conflicts()).toEqual([]);
  }
}

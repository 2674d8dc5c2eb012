/** A client file of the example's version 1 with local intent of every kind, for upgrade tests. */
import { expect } from 'vitest';
import type { Schema } from '@ferry/protocol';
import type { FerryClient } from '@ferry/client';
import { todoSchema, todoV4 } from '@ferry/example-todo';
import { uuid, type Harness } from './ferry-harness.js';

type AnyClient = FerryClient<Schema>;

/**
 * A version 1 file with one pending change, one manual conflict and one dead letter, on a server
 * that runs version 4 (a peer of version 4 gave a todo a priority and made a tag).
 */
export async function fileWithIntent(h: Harness<Schema>) {
  const ids = { list: uuid(), a: uuid(), b: uuid(), c: uuid(), tag: uuid(), bobs: uuid() };
  const bob = (await h.client('bob', 'bob', { schema: todoSchema })) as unknown as AnyClient;
  await bob.write((tx) => tx.insert('lists' as never, { id: ids.bobs, name: 'Bob' }));
  await bob.sync();
  const old = (await h.client('old', 'alice', {
    schema: todoSchema,
    resolvers: { todos: 'manual' },
  })) as unknown as AnyClient;
  await old.write((tx) => {
    tx.insert('lists' as never, { id: ids.list, name: 'L' });
    for (const [id, title] of [
      [ids.a, 'a'],
      [ids.b, 'b'],
      [ids.c, 'c'],
    ] as const) {
      tx.insert('todos' as never, { id, list_id: ids.list, title, position: 1 });
    }
  });
  await old.sync();
  const peer = (await h.client('peer', 'alice', { schema: todoV4 })) as AnyClient;
  await peer.sync();
  await peer.write((tx) => {
    tx.update('todos' as never, ids.a, { priority: 7 });
    tx.update('todos' as never, ids.b, { text: 'b by peer' });
    tx.insert('tags' as never, { id: ids.tag, list_id: ids.list, label: 'home' });
  });
  await peer.sync();
  // A manual conflict on b (both changed its title), a dead letter (Bob's list), and a pending
  // change of c that is never pushed before the upgrade.
  await old.write((tx) => tx.update('todos' as never, ids.b as never, { title: 'b here' }));
  await old.sync();
  await old.write((tx) => tx.insert('lists' as never, { id: ids.bobs, name: 'not mine' }));
  await old.sync();
  await old.write((tx) => tx.update('todos' as never, ids.c as never, { title: 'c pending' }));
  expect(await old.conflicts()).toHaveLength(1);
  expect(await old.deadLetters()).toHaveLength(1);
  await old.close();
  return ids;
}

import { afterEach, describe, expect, it } from 'vitest';
import { schemaHistory, type Schema } from '@ferry/protocol';
import type { FerryClient } from '@ferry/client';
import { todoSchema, todoV2, todoV3, todoV4 } from '@ferry/example-todo';

/** The server's history: up to version 4, which still has `position`. */
const serverHistory = schemaHistory(todoSchema, todoV2, todoV3, todoV4);
import { rowsOf, serverRows, startHarness, type Harness } from '../support/ferry-harness.js';
import { fileWithIntent } from '../support/upgrade-fixture.js';

type AnyClient = FerryClient<Schema>;

/** The file `old` opened by version 3 of the app (its history from version 1). */
async function openAsVersion3(h: Harness<Schema>): Promise<AnyClient> {
  return await h.client('old', 'alice', {
    schema: todoV3,
    history: schemaHistory(todoSchema, todoV2, todoV3),
    resolvers: { todos: 'manual' },
  });
}

describe('a client file opened by a newer version of the app', () => {
  let h: Harness<Schema>;
  afterEach(async () => {
    await h.close();
  });

  it('is migrated from version 1 to 3 with its pending change, manual conflict and dead letter, which are all still there, and then pushed; the new columns come from the server', async () => {
    h = await startHarness<Schema>({ schema: serverHistory as never });
    const ids = await fileWithIntent(h);

    const upgraded = await openAsVersion3(h);
    // Before any sync: everything the file held, in version 3's shape.
    const status = await upgraded.readStatus();
    expect(status.pending).toBe(1);
    const [conflict] = await upgraded.conflicts();
    expect(conflict).toMatchObject({ table: 'todos', pk: ids.b });
    expect(conflict!.local).toMatchObject({ title: 'b here' });
    expect(await upgraded.deadLetters()).toEqual([
      expect.objectContaining({ table: 'lists', pk: ids.bobs, code: 'forbidden' }),
    ]);
    expect(await upgraded.getRow('todos' as never, ids.c as never)).toMatchObject({
      title: 'c pending',
      priority: 0,
    });

    await upgraded.sync();
    await upgraded.sync();
    // The pending change went out; the server's values of the new column and table came in.
    const server = new Map(
      (await serverRows(h as never, 'alice', 'todos')).map((r) => [r['id'], r]),
    );
    expect(server.get(ids.c)).toMatchObject({ text: 'c pending' });
    const local = new Map((await rowsOf(upgraded, 'todos')).map((r) => [r['id'], r]));
    expect(local.get(ids.a)).toMatchObject({ title: 'a', priority: 7 });
    expect(local.get(ids.c)).toMatchObject({ title: 'c pending' });
    expect(await rowsOf(upgraded, 'tags')).toEqual([
      expect.objectContaining({ id: ids.tag, label: 'home' }),
    ]);
    // The conflict and the dead letter wait for the app, as before the upgrade.
    expect(await upgraded.conflicts()).toHaveLength(1);
    expect(await upgraded.deadLetters()).toHaveLength(1);
    await upgraded.resolveConflict(conflict!.id, 'client');
    await upgraded.sync();
    expect(
      (await serverRows(h as never, 'alice', 'todos')).find((r) => r['id'] === ids.b),
    ).toMatchObject({ text: 'b here' });
  });

  it('resolves a conflict kept across the update with the row the app was shown, which lacks the new column: the column keeps the local value', async () => {
    h = await startHarness<Schema>({ schema: serverHistory as never });
    const ids = await fileWithIntent(h);
    const upgraded = await openAsVersion3(h);
    await upgraded.sync();
    const [conflict] = await upgraded.conflicts();
    // The device's row as it was when the conflict arose, in version 1: no priority.
    expect(conflict!.local).not.toHaveProperty('priority');
    const before = (await upgraded.getRow('todos' as never, ids.b)) as Record<string, unknown>;
    await upgraded.resolveConflict(conflict!.id, {
      row: { ...conflict!.local, title: 'b edited' },
    });
    expect(await upgraded.getRow('todos' as never, ids.b as never)).toMatchObject({
      title: 'b edited',
      priority: before['priority'],
    });
    await upgraded.sync();
    expect(
      (await serverRows(h as never, 'alice', 'todos')).find((r) => r['id'] === ids.b),
    ).toMatchObject({ text: 'b edited' });
  });

  it('refuses a file written by a newer version of the app, and leaves it as it was', async () => {
    h = await startHarness<Schema>({ schema: serverHistory as never });
    const v3 = (await h.client('f', 'alice', {
      schema: todoV3,
      history: schemaHistory(todoSchema, todoV2, todoV3),
    })) as AnyClient;
    await v3.close();
    await expect(h.client('f', 'alice', { schema: todoV2 })).rejects.toMatchObject({
      code: 'not_supported',
      message: expect.stringMatching(/newer version of the app \(schema version 3/),
    });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { isFerryError, type Schema } from '@ferry/protocol';
import type { FerryClient } from '@ferry/client';
import { todoHistory, todoSchema, todoV2 } from '@ferry/example-todo';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';
import { fiveVersionsOnOneServer, unsent } from '../support/five-versions.js';

type AnyClient = FerryClient<Schema>;

describe('clients of five schema versions on one server', () => {
  let h: Harness<Schema>;
  afterEach(async () => {
    await h.close();
  });

  it('read and write the same data in their own shape while the server migrates under them, and no column is reset', async () => {
    h = await startHarness<Schema>({ schema: todoSchema });
    await fiveVersionsOnOneServer(h);
  });

  it('a client newer than the server keeps its changes and says so; an app too old is told to update and keeps its data', async () => {
    h = await startHarness<Schema>({ schema: todoSchema });
    const list = uuid();
    const newer = (await h.client('v2', 'alice', { schema: todoV2 })) as AnyClient;
    await newer.write((tx) => tx.insert('lists' as never, { id: list, name: 'L' }));
    const failure = await newer.sync().then(
      () => null,
      (error: unknown) => error,
    );
    expect(isFerryError(failure, 'schema_ahead')).toBe(true);
    expect(await unsent(newer)).toBe(1);
    expect(await newer.deadLetters()).toEqual([]);

    // The server is updated: the waiting change goes through.
    await h.stopServer();
    await restartWith(h, todoHistory, { oldestSchemaVersion: 2 });
    await newer.sync();
    expect(await unsent(newer)).toBe(0);
    expect(await serverRows(h as never, 'alice', 'lists')).toEqual([
      expect.objectContaining({ id: list }),
    ]);

    const old = (await h.client('v1', 'alice', { schema: todoSchema })) as unknown as AnyClient;
    await old.write((tx) => tx.insert('lists', { id: uuid(), name: 'mine' }));
    const refused = await old.sync().then(
      () => null,
      (error: unknown) => error,
    );
    expect(isFerryError(refused, 'schema_too_old')).toBe(true);
    expect((refused as { status?: number }).status).toBe(426);
    expect(await unsent(old)).toBe(1);
    expect(await old.deadLetters()).toEqual([]);
    expect(await rowsOf(old, 'lists')).toEqual([expect.objectContaining({ name: 'mine' })]);
  });
});

/** Starts the stopped harness server again on the same file with another schema (history). */
async function restartWith(
  h: Harness<Schema>,
  schema: typeof todoHistory,
  extra: { oldestSchemaVersion?: number } = {},
): Promise<void> {
  h.setServerOptions({ schema, ...extra });
  await h.startServer();
}

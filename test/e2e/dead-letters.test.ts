import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isFerryError } from '@ferry/protocol';
import {
  rowsOf,
  serverRows,
  signedToken,
  startHarness,
  uuid,
  type Harness,
} from '../support/ferry-harness.js';

describe('rows the server refuses', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  /** One valid list, one list whose name is too long, and two todos in the bad list. */
  async function badBacklog() {
    const a = await h.client('a');
    await a.sync();
    const good = uuid();
    const bad = uuid();
    const children = [uuid(), uuid()];
    await a.write((tx) => tx.insert('lists', { id: good, name: 'good' }));
    // Plain SQL skips the client's own checks; the server refuses the row.
    await a.execute('INSERT INTO lists (id, name) VALUES (?, ?)', [bad, 'x'.repeat(201)]);
    await a.write((tx) => {
      for (const id of children) tx.insert('todos', { id, list_id: bad, title: 'child' });
    });
    const grandchild = uuid();
    return { a, good, bad, children, grandchild };
  }

  it('a 422 on one row dead-letters it, commits the rest, and its dependents wait', async () => {
    const { a, good, bad, children } = await badBacklog();
    const report = await a.sync();
    expect(report.deadLettered).toEqual([
      expect.objectContaining({ table: 'lists', pk: bad, code: 'too_long' }),
    ]);
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l.id)).toEqual([good]);
    expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
    const [letter] = await a.deadLetters();
    expect(letter).toMatchObject({
      table: 'lists',
      pk: bad,
      op: 'upsert',
      status: 422,
      code: 'too_long',
    });
    expect(letter!.row).toMatchObject({ name: 'x'.repeat(201) });
    const status = await a.readStatus();
    expect(status).toMatchObject({ deadLetters: 1, pending: 2, inFlight: null });
    // The dependents keep waiting, cycle after cycle, without failing against the server.
    const again = await a.sync();
    expect(again).toMatchObject({ pushed: 0, deadLettered: [] });
    expect((await rowsOf(a, 'todos')).map((t) => t.id).sort()).toEqual([...children].sort());
  });

  it('retrying a dead letter after fixing the row pushes it with its dependents', async () => {
    const { a, bad, children } = await badBacklog();
    await a.sync();
    const [letter] = await a.deadLetters();
    await a.write((tx) => tx.update('lists', bad, { name: 'fixed' }));
    await a.retryDeadLetter(letter!.id);
    expect(await a.deadLetters()).toEqual([]);
    const report = await a.sync();
    expect(report.pushed).toBe(3);
    expect((await serverRows(h, 'alice', 'todos')).map((t) => t.id).sort()).toEqual(
      [...children].sort(),
    );
    expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
    expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 0 });
  });

  it('discarding a dead letter returns the row to its server state; dependents fail visibly', async () => {
    const { a, bad } = await badBacklog();
    await a.sync();
    const [letter] = await a.deadLetters();
    await a.discardDeadLetter(letter!.id);
    expect(await a.getRow('lists', bad)).toBeUndefined();
    const report = await a.sync();
    // The todos of the discarded list cannot exist on the server: each becomes a dead letter.
    expect(report.deadLettered.map((d) => d.code)).toEqual(['fk_violation', 'fk_violation']);
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(1);
    expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 2 });
  });

  it('a 403 naming rows of another user dead-letters exactly those rows', async () => {
    const bob = await h.client('bob', 'bob');
    const bobsList = uuid();
    await bob.write((tx) => tx.insert('lists', { id: bobsList, name: "bob's" }));
    await bob.sync();
    const a = await h.client('a');
    await a.sync();
    const mine = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: mine, name: 'mine' });
      tx.insert('lists', { id: bobsList, name: 'taken' });
    });
    const report = await a.sync();
    expect(report.deadLettered).toEqual([
      expect.objectContaining({ table: 'lists', pk: bobsList, code: 'forbidden' }),
    ]);
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l.id)).toEqual([mine]);
    expect((await serverRows(h, 'bob', 'lists'))[0]).toMatchObject({ name: "bob's" });
    expect((await a.deadLetters())[0]).toMatchObject({ status: 403, code: 'forbidden' });
  });

  it('a 401 stops the cycle with a typed status and loses nothing', async () => {
    let token = await signedToken('alice', { secret: 'a-wrong-secret-of-at-least-32-bytes' });
    const a = await h.client('a', 'alice', { getToken: () => token });
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'kept' }));
    const error = await a.sync().catch((e: unknown) => e);
    expect(isFerryError(error, 'unauthorized')).toBe(true);
    expect((error as { status?: number }).status).toBe(401);
    expect(a.status.state).toBe('blocked-auth');
    expect(a.status.lastError?.code).toBe('unauthorized');
    expect((await a.readStatus()).pending).toBe(1);
    token = await h.token('alice');
    const report = await a.sync();
    expect(report.pushed).toBe(1);
    expect(a.status).toMatchObject({ state: 'idle', lastError: null, pending: 0 });
  });
});

import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  ClientEvent,
  ClientOptions,
  FerryClient,
  LogEntry,
  SqliteDriver,
} from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import { defineSchema, isFerryError } from '@ferry/protocol';
import { serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** The example schema with one change to the todos table's declaration. */
function todosWith(change: (todos: (typeof todoSchema.declaration.tables)['todos']) => object) {
  return defineSchema({
    tables: {
      ...todoSchema.declaration.tables,
      todos: change(todoSchema.declaration.tables.todos) as never,
    },
  }) as unknown as typeof todoSchema;
}

/** Title edits on both sides become manual conflicts; other columns merge as before. */
const manualTitleSchema = todosWith((todos) => ({
  ...todos,
  columns: { ...todos.columns, title: { ...todos.columns.title, merge: 'manual' } },
}));
/** Every same-column edit of a todo becomes a manual conflict, but `position`'s. */
const manualTodosSchema = todosWith((todos) => ({
  ...todos,
  merge: 'manual',
  columns: { ...todos.columns, position: { ...todos.columns.position, merge: 'server' } },
}));

describe('the journal of settled conflicts', () => {
  let h: Harness<typeof todoSchema>;
  afterEach(async () => {
    await h.close();
  });

  type Client = FerryClient<typeof todoSchema>;

  /**
   * A server, device a (alice, with `options`) and device b (alice), sharing `count` todos
   * titled t0, t1, …; both are synced.
   */
  async function devices(
    count: number,
    options: Partial<ClientOptions<typeof todoSchema>> = {},
    schema: typeof todoSchema = todoSchema,
  ) {
    h = await startHarness({ schema });
    const a: Client = await h.client('a', 'alice', options);
    const b: Client = await h.client('b');
    const listId = uuid();
    const ids = Array.from({ length: count }, () => uuid());
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      ids.forEach((id, i) =>
        tx.insert('todos', { id, list_id: listId, title: `t${i}`, position: i }),
      );
    });
    await a.sync();
    await b.sync();
    return { a, b, ids, listId };
  }

  it('records the local value that lost a field-merge of a field both sides changed, in the report, the status, the metrics, the log and an event', async () => {
    const logs: LogEntry[] = [];
    const { a, b, ids } = await devices(1, { onLog: (entry) => logs.push(entry) });
    const events: ClientEvent[] = [];
    a.subscribe((event) => events.push(event));
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'from b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'from a', done: true }));
    const report = await a.sync();

    const entry = {
      id: expect.any(Number),
      table: 'todos',
      pk: ids[0],
      rule: 'field-merge',
      loser: 'local',
      columns: ['title'],
      lost: { title: 'from a' },
      won: { title: 'from b' },
      serverVersion: expect.any(Number),
      sourceBundleId: expect.any(Number),
      at: expect.any(Number),
    };
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase']);
    expect(report.settledConflicts).toEqual([entry]);
    expect(await a.settledConflicts()).toEqual(report.settledConflicts);
    // The row itself: the server's title, the local `done` merged in.
    expect(await a.getRow('todos', ids[0]!)).toMatchObject({ title: 'from b', done: true });
    expect((await a.readStatus()).settledConflicts).toBe(1);
    expect(a.metrics().settledConflicts).toBe(1);
    const logged = logs.filter((l) => l.event === 'settled-conflict');
    expect(logged).toHaveLength(1);
    expect(logged[0]!.fields).toMatchObject({
      table: 'todos',
      rule: 'field-merge',
      loser: 'local',
      columns: 'title',
      correlationId: `${a.sourceId}:${report.settledConflicts[0]!.sourceBundleId}`,
    });
    expect(events.filter((e) => e.type === 'settled-conflicts')).toEqual([
      { type: 'settled-conflicts', entries: report.settledConflicts },
    ]);
  });

  it('records the local edit server-wins drops, a local edit lost to a remote delete and a local delete lost to a remote edit', async () => {
    const { a, b, ids } = await devices(3, { resolvers: { todos: 'server-wins' } });
    await b.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'b title' });
      tx.delete('todos', ids[1]!);
      tx.update('todos', ids[2]!, { title: 'b kept it' });
    });
    await b.sync();
    await a.write((tx) => {
      tx.update('todos', ids[0]!, { done: true });
      tx.update('todos', ids[1]!, { title: 'edited' });
      tx.delete('todos', ids[2]!);
    });
    const report = await a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual([
      'adopt-server',
      'adopt-server',
      'adopt-server',
    ]);
    const byPk = new Map((await a.settledConflicts()).map((e) => [e.pk, e]));
    expect(byPk.size).toBe(3);
    expect(byPk.get(ids[0]!)).toMatchObject({
      rule: 'server-wins',
      loser: 'local',
      columns: ['done'],
      lost: { done: true },
      won: { done: false },
    });
    const everyColumn = ['list_id', 'title', 'done', 'position'];
    expect(byPk.get(ids[1]!)).toMatchObject({
      loser: 'local',
      columns: everyColumn,
      lost: { title: 'edited', done: false, position: 1 },
      won: null,
    });
    expect(byPk.get(ids[2]!)).toMatchObject({
      loser: 'local',
      columns: everyColumn,
      lost: null,
      won: { title: 'b kept it', position: 2 },
    });
    expect(await a.getRow('todos', ids[1]!)).toBeUndefined();
    expect(await a.getRow('todos', ids[2]!)).toMatchObject({ title: 'b kept it' });
  });

  it('records the server values client-wins overwrites, and a remote delete it undoes', async () => {
    const { a, b, ids } = await devices(2, { resolvers: { todos: 'client-wins' } });
    await b.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'b title' });
      tx.delete('todos', ids[1]!);
    });
    await b.sync();
    await a.write((tx) => {
      tx.update('todos', ids[0]!, { done: true });
      tx.update('todos', ids[1]!, { title: 'keep me' });
    });
    const report = await a.sync();
    const byPk = new Map(report.settledConflicts.map((e) => [e.pk, e]));
    expect(byPk.get(ids[0]!)).toMatchObject({
      rule: 'client-wins',
      loser: 'server',
      columns: ['title'],
      lost: { title: 'b title' },
      won: { title: 't0' },
    });
    expect(byPk.get(ids[1]!)).toMatchObject({
      loser: 'server',
      lost: null,
      won: { title: 'keep me' },
    });
    expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title).sort()).toEqual([
      'keep me',
      't0',
    ]);
  });

  it('records the server row a local delete wins over under field-merge', async () => {
    const { a, b, ids } = await devices(1);
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b title' }));
    await b.sync();
    await a.write((tx) => tx.delete('todos', ids[0]!));
    const report = await a.sync();
    expect(report.settledConflicts).toMatchObject([
      { rule: 'field-merge', loser: 'server', lost: { title: 'b title' }, won: null },
    ]);
    expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
  });

  it('records what a custom resolver’s merged row replaced on both sides', async () => {
    const { a, b, ids } = await devices(1, {
      resolvers: {
        todos: (local, _base, server) => ({
          kind: 'rebase',
          row: { ...server!, title: `${String(server!.title)} + ${String(local!.title)}` },
        }),
      },
    });
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    const report = await a.sync();
    expect(report.settledConflicts).toMatchObject([
      { rule: 'custom', loser: 'local', lost: { title: 'a' }, won: { title: 'b + a' } },
      { rule: 'custom', loser: 'server', lost: { title: 'b' }, won: { title: 'b + a' } },
    ]);
  });

  it('records nothing when no value is dropped: fields changed on one side each', async () => {
    const { a, b, ids } = await devices(1);
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b title' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { done: true }));
    const report = await a.sync();
    expect(report.conflicts).toHaveLength(1);
    expect(report.settledConflicts).toEqual([]);
    expect(await a.settledConflicts()).toEqual([]);
    expect(a.metrics().settledConflicts).toBe(0);
  });

  it('turns a same-column edit of a column whose merge rule is manual into a manual conflict, and still merges other columns', async () => {
    const { a, b, ids } = await devices(2, {}, manualTitleSchema);
    await b.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'b title' });
      tx.update('todos', ids[1]!, { done: true });
    });
    await b.sync();
    await a.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'a title' });
      tx.update('todos', ids[1]!, { title: 'a title 1' });
    });
    const report = await a.sync();
    expect(new Map(report.conflicts.map((c) => [c.pk, c.outcome]))).toEqual(
      new Map([
        [ids[0], 'manual'],
        [ids[1], 'rebase'],
      ]),
    );
    expect(report.settledConflicts).toEqual([]);
    const [conflict] = await a.conflicts();
    expect(conflict).toMatchObject({
      pk: ids[0],
      local: { title: 'a title' },
      server: { title: 'b title' },
      reason: 'changed on both sides, and the merge rule of title is manual',
    });
    // Nothing was replaced: the local title stays until the app decides.
    expect(await a.getRow('todos', ids[0]!)).toMatchObject({ title: 'a title' });
    expect(await a.getRow('todos', ids[1]!)).toMatchObject({ title: 'a title 1', done: true });
    await a.resolveConflict(conflict!.id, 'client');
    await a.sync();
    await b.sync();
    expect(await b.getRow('todos', ids[0]!)).toMatchObject({ title: 'a title' });
  });

  it('turns every same-column edit of a table whose merge rule is manual into a manual conflict, but a column that overrides it', async () => {
    const { a, b, ids } = await devices(2, {}, manualTodosSchema);
    await b.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'b' });
      tx.update('todos', ids[1]!, { position: 10 });
    });
    await b.sync();
    await a.write((tx) => {
      tx.update('todos', ids[0]!, { title: 'a' });
      tx.update('todos', ids[1]!, { position: 20 });
    });
    const report = await a.sync();
    expect(new Map(report.conflicts.map((c) => [c.pk, c.outcome]))).toEqual(
      new Map([
        [ids[0], 'manual'],
        [ids[1], 'adopt-server'],
      ]),
    );
    expect(report.settledConflicts).toMatchObject([
      { pk: ids[1], loser: 'local', columns: ['position'], lost: { position: 20 } },
    ]);
  });

  it('keeps the newest maxSettledConflicts entries, pruning older ones as it journals', async () => {
    const { a, b, ids } = await devices(5, { maxSettledConflicts: 3 });
    const conflictOnEveryRow = async (round: number) => {
      await b.write((tx) => ids.forEach((id) => tx.update('todos', id, { title: `b${round}` })));
      await b.sync();
      await a.write((tx) => ids.forEach((id) => tx.update('todos', id, { title: `a${round}` })));
      return a.sync();
    };
    const first = await conflictOnEveryRow(1);
    expect(first.settledConflicts).toHaveLength(5);
    const kept = await a.settledConflicts();
    expect(kept.map((e) => e.id)).toEqual(
      first.settledConflicts
        .map((e) => e.id)
        .reverse()
        .slice(0, 3),
    );
    expect((await a.readStatus()).settledConflicts).toBe(3);
    const second = await conflictOnEveryRow(2);
    expect((await a.settledConflicts()).map((e) => e.id)).toEqual(
      second.settledConflicts
        .map((e) => e.id)
        .reverse()
        .slice(0, 3),
    );
    expect(Math.min(...second.settledConflicts.map((e) => e.id))).toBeGreaterThan(
      Math.max(...first.settledConflicts.map((e) => e.id)),
    );
    expect(a.metrics().settledConflicts).toBe(10);
    await expect(h.client('c', 'alice', { maxSettledConflicts: 0 })).rejects.toSatisfy((error) =>
      isFerryError(error, 'invalid_argument'),
    );
  });

  it('keeps the newest 1,000 entries by default', async () => {
    const { a, b, ids } = await devices(1_001);
    await b.write((tx) => ids.forEach((id) => tx.update('todos', id, { title: 'b' })));
    await b.sync();
    await a.write((tx) => ids.forEach((id) => tx.update('todos', id, { title: 'a' })));
    const report = await a.sync();
    expect(report.settledConflicts).toHaveLength(1_001);
    const kept = await a.settledConflicts();
    expect(kept).toHaveLength(1_000);
    expect(kept.at(-1)!.id).toBe(report.settledConflicts[1]!.id);
    expect((await a.readStatus()).settledConflicts).toBe(1_000);
  });

  it('journals a settlement in its own transaction: when the journal cannot be written, nothing is settled, and the retry journals once', async () => {
    h = await startHarness();
    const failing = failingOnce(
      betterSqlite3Driver(h.dbPath('a')),
      /^INSERT INTO ferry_settled_conflicts/,
    );
    const a = await h.client('a', 'alice', { driver: failing.driver });
    const b = await h.client('b');
    const id = uuid();
    const listId = uuid();
    await a.write((tx) => {
      tx.insert('lists', { id: listId, name: 'L' });
      tx.insert('todos', { id, list_id: listId, title: 't' });
    });
    await a.sync();
    await b.sync();
    await b.write((tx) => tx.update('todos', id, { title: 'b' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', id, { title: 'a' }));
    failing.arm();
    await expect(a.sync()).rejects.toThrow();
    expect(failing.failed()).toBe(true);
    // Rolled back with the journal: the change is still in flight, the local title untouched.
    expect(await a.settledConflicts()).toEqual([]);
    expect(await a.getRow('todos', id)).toMatchObject({ title: 'a' });
    expect((await a.readStatus()).inFlight).not.toBeNull();
    const retry = await a.sync();
    expect(retry.settledConflicts).toMatchObject([{ lost: { title: 'a' }, won: { title: 'b' } }]);
    expect(await a.settledConflicts()).toHaveLength(1);
    expect(await a.getRow('todos', id)).toMatchObject({ title: 'b' });
  });

  it('records what each automatic retry dropped, and nothing when the retry limit makes the row a manual conflict', async () => {
    const peer: { b?: Client } = {};
    let ids: string[] = [];
    let round = 0;
    const setup = await devices(1, {
      resolvers: { todos: 'client-wins' },
      maxConflictRetries: 2,
      fetch: async (input, init) => {
        // Before every push of device a, device b changes the row again.
        if (peer.b && init?.method === 'POST') {
          await peer.b.write((tx) => tx.update('todos', ids[0]!, { position: ++round * 100 }));
          await peer.b.sync();
        }
        return fetch(input, init);
      },
    });
    ids = setup.ids;
    await setup.a.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    peer.b = setup.b;
    const report = await setup.a.sync();
    expect(report.conflicts.map((c) => c.outcome)).toEqual(['rebase', 'rebase', 'manual']);
    // Each rebase overwrote another server position with the local one; the manual conflict
    // dropped nothing (the local row waits for the app).
    expect(report.settledConflicts).toMatchObject([
      { loser: 'server', columns: ['position'], lost: { position: 100 }, won: { position: 0 } },
      { loser: 'server', columns: ['position'], lost: { position: 200 }, won: { position: 0 } },
    ]);
    expect(await setup.a.conflicts()).toHaveLength(1);
    expect(await setup.a.getRow('todos', ids[0]!)).toMatchObject({ title: 'a' });
  });

  it('lists entries newest first by limit and time, and clears them through an id', async () => {
    let clock = 1_000;
    const { a, b, ids } = await devices(3, { now: () => clock });
    for (const [i, id] of ids.entries()) {
      clock = 1_000 * (i + 2);
      await b.write((tx) => tx.update('todos', id, { title: `b${i}` }));
      await b.sync();
      await a.write((tx) => tx.update('todos', id, { title: `a${i}` }));
      await a.sync();
    }
    const all = await a.settledConflicts();
    expect(all.map((e) => [e.pk, e.at])).toEqual([
      [ids[2], 4_000],
      [ids[1], 3_000],
      [ids[0], 2_000],
    ]);
    expect(await a.settledConflicts({ limit: 1 })).toEqual(all.slice(0, 1));
    expect(await a.settledConflicts({ since: 3_000 })).toEqual(all.slice(0, 2));
    for (const bad of [{ limit: 0 }, { limit: 1.5 }, { since: Number.NaN }]) {
      await expect(a.settledConflicts(bad)).rejects.toSatisfy((error) =>
        isFerryError(error, 'invalid_argument'),
      );
    }
    expect(await a.clearSettledConflicts({ throughId: all[1]!.id })).toBe(2);
    expect(await a.settledConflicts()).toEqual(all.slice(0, 1));
    expect(a.status.settledConflicts).toBe(1);
    expect(await a.clearSettledConflicts()).toBe(1);
    expect(a.status.settledConflicts).toBe(0);
    // Ids keep rising after a clear.
    clock = 9_000;
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b again' }));
    await b.sync();
    await a.write((tx) => tx.update('todos', ids[0]!, { title: 'a again' }));
    const next = await a.sync();
    expect(next.settledConflicts[0]!.id).toBeGreaterThan(all[0]!.id);
  });

  it('adds the journal to a file written before it existed, on the next open', async () => {
    const { a, b, ids } = await devices(1);
    await a.close();
    const file = new Database(h.dbPath('a'));
    file.exec('DROP TABLE ferry_settled_conflicts');
    file.close();
    const reopened = await h.client('a');
    expect(await reopened.settledConflicts()).toEqual([]);
    await b.write((tx) => tx.update('todos', ids[0]!, { title: 'b' }));
    await b.sync();
    await reopened.write((tx) => tx.update('todos', ids[0]!, { title: 'a' }));
    expect((await reopened.sync()).settledConflicts).toHaveLength(1);
    expect(await reopened.settledConflicts()).toHaveLength(1);
  });
});

/** A real driver whose first statement matching `pattern` after `arm()` fails. */
function failingOnce(driver: SqliteDriver, pattern: RegExp) {
  let armed = false;
  let failed = false;
  const check = (sql: string) => {
    if (armed && pattern.test(sql)) {
      armed = false;
      failed = true;
      throw new Error('disk I/O error (injected)');
    }
  };
  const wrapped: SqliteDriver = {
    run: async (sql, params) => (check(sql), driver.run(sql, params)),
    all: async (sql, params) => (check(sql), driver.all(sql, params)),
    exec: async (sql) => (check(sql), driver.exec(sql)),
    batch: (statements) => driver.batch(statements),
    close: () => driver.close(),
  };
  return { driver: wrapped, arm: () => (armed = true), failed: () => failed };
}

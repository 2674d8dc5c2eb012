/**
 * The server's hooks end to end, run on each store: a real server on 127.0.0.1 with the hooks of
 * `examples/server-hooks`, real clients (better-sqlite3 files) and raw HTTP where the wire itself
 * is the point.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, type Change } from '@ferry/protocol';
import { signToken, type FerryLogger, type ServerHooks, type ServerStore } from '@ferry/server';
import {
  auditedTodoSchema,
  type AuditedTodoSchema,
} from '../../examples/server-hooks/src/schema.js';
import exampleHooks from '../../examples/server-hooks/src/hooks.js';
import { SECRET, rowsOf, serverRows, startHarness, uuid, type Harness } from './ferry-harness.js';

/** How the suite gets a store: a new one on the same data at every server start. */
export interface HookSuiteStore {
  /** Makes the store factory of one harness (fresh data), and its cleanup. */
  fresh(): { store: (() => ServerStore) | undefined; cleanup: () => Promise<void> };
}

export function describeServerHooks(name: string, stores: HookSuiteStore): void {
  describe(name, () => {
    const cleanups: (() => Promise<void>)[] = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
    });

    async function start(
      hooks: ServerHooks = exampleHooks,
      logger: FerryLogger | false = false,
    ): Promise<Harness<AuditedTodoSchema>> {
      const { store, cleanup } = stores.fresh();
      cleanups.push(cleanup);
      const h = await startHarness<AuditedTodoSchema>({
        schema: auditedTodoSchema,
        store,
        server: { hooks, logger },
      });
      cleanups.push(() => h.close());
      return h;
    }

    /** POSTs a push over HTTP and returns its status and body text. */
    async function push(
      h: Harness<AuditedTodoSchema>,
      body: { sourceId: string; sourceBundleId: number; changes: Change[] },
      token?: string,
    ): Promise<{ status: number; text: string }> {
      const response = await fetch(`${h.url}/v1/push`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token ?? (await h.token('alice'))}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify({ protocol: PROTOCOL_VERSION, ...body }),
      });
      return { status: response.status, text: await response.text() };
    }

    const newList = (id: string, name: string): Change => ({
      table: 'lists',
      pk: id,
      op: 'upsert',
      baseVersion: null,
      row: { id, name },
    });
    const newTodo = (id: string, listId: string, title: string): Change => ({
      table: 'todos',
      pk: id,
      op: 'upsert',
      baseVersion: null,
      row: { id, list_id: listId, title },
    });

    it("a row a validate hook refuses becomes a dead letter with the hook's code and message, and the rest of the bundle commits", async () => {
      const h = await start();
      const a = await h.client('a');
      const list = uuid();
      const good = uuid();
      const blank = uuid();
      await a.write((tx) => {
        tx.insert('lists', { id: list, name: 'groceries' });
        tx.insert('todos', { id: good, list_id: list, title: 'milk' });
        tx.insert('todos', { id: blank, list_id: list, title: '   ' });
      });
      const report = await a.sync();
      expect(report.deadLettered).toEqual([
        expect.objectContaining({
          table: 'todos',
          pk: blank,
          code: 'title_blank',
          message: 'a todo needs a title',
        }),
      ]);
      expect((await serverRows(h, 'alice', 'lists')).map((l) => l.id)).toEqual([list]);
      expect((await serverRows(h, 'alice', 'todos')).map((t) => t.id)).toEqual([good]);
      const [letter] = await a.deadLetters();
      expect(letter).toMatchObject({ table: 'todos', pk: blank, status: 403, code: 'title_blank' });
      expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 1, inFlight: null });

      // The app fixes the row and retries the letter: it commits.
      await a.write((tx) => tx.update('todos', blank, { title: 'bread' }));
      await a.retryDeadLetter(letter!.id);
      expect(await a.sync()).toMatchObject({ pushed: 1, deadLettered: [] });
      expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title).sort()).toEqual([
        'bread',
        'milk',
      ]);
      expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 0 });
    });

    it('discarding a refused dead letter removes the row the server never took', async () => {
      const h = await start();
      const a = await h.client('a');
      const list = uuid();
      const blank = uuid();
      await a.write((tx) => {
        tx.insert('lists', { id: list, name: 'chores' });
        tx.insert('todos', { id: blank, list_id: list, title: '' });
      });
      await a.sync();
      const [letter] = await a.deadLetters();
      await a.discardDeadLetter(letter!.id);
      expect(await a.getRow('todos', blank)).toBeUndefined();
      expect(await a.sync()).toMatchObject({ pushed: 0, deadLettered: [] });
      expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
      expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 0 });
    });

    it('the children of a refused new row wait with it instead of committing without it', async () => {
      const h = await start();
      const a = await h.client('a');
      const kept = uuid();
      const unnamed = uuid();
      const child = uuid();
      await a.write((tx) => {
        tx.insert('lists', { id: kept, name: 'kept' });
        tx.insert('lists', { id: unnamed, name: ' ' });
        tx.insert('todos', { id: child, list_id: unnamed, title: 'waits' });
      });
      const report = await a.sync();
      expect(report.deadLettered).toEqual([
        expect.objectContaining({ table: 'lists', pk: unnamed, code: 'name_blank' }),
      ]);
      expect((await serverRows(h, 'alice', 'lists')).map((l) => l.id)).toEqual([kept]);
      expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
      expect(await a.readStatus()).toMatchObject({ pending: 1, deadLetters: 1 });

      const [letter] = await a.deadLetters();
      await a.write((tx) => tx.update('lists', unnamed, { name: 'named' }));
      await a.retryDeadLetter(letter!.id);
      expect(await a.sync()).toMatchObject({ pushed: 2, deadLettered: [] });
      expect((await serverRows(h, 'alice', 'todos')).map((t) => t.id)).toEqual([child]);
    });

    it("an authorize hook refuses by the token's claims and by the server's rows (ctx.get)", async () => {
      const h = await start();
      const viewerToken = await signToken({
        secret: SECRET,
        userId: 'alice',
        claims: { role: 'viewer' },
      });
      const viewer = await h.client('viewer', 'alice', { getToken: () => viewerToken });
      await viewer.write((tx) => tx.insert('lists', { id: uuid(), name: 'not mine to add' }));
      expect((await viewer.sync()).deadLettered).toEqual([
        expect.objectContaining({ table: 'lists', code: 'read_only' }),
      ]);
      expect(await serverRows(h, 'alice', 'lists')).toEqual([]);

      const editorToken = await signToken({
        secret: SECRET,
        userId: 'alice',
        claims: { role: 'editor' },
      });
      const editor = await h.client('editor', 'alice', { getToken: () => editorToken });
      const archived = uuid();
      await editor.write((tx) => tx.insert('lists', { id: archived, name: 'old', archived: true }));
      expect(await editor.sync()).toMatchObject({ pushed: 1, deadLettered: [] });
      const late = uuid();
      await editor.write((tx) =>
        tx.insert('todos', { id: late, list_id: archived, title: 'late' }),
      );
      expect((await editor.sync()).deadLettered).toEqual([
        expect.objectContaining({
          table: 'todos',
          pk: late,
          code: 'list_archived',
          message: 'the list "old" is archived',
        }),
      ]);
      expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
    });

    it("beforeCommit's audit rows commit in the pushing bundle and reach the user's other device", async () => {
      const h = await start();
      const a = await h.client('a');
      const b = await h.client('b');
      const list = uuid();
      const todo = uuid();
      await a.write((tx) => {
        tx.insert('lists', { id: list, name: 'audited' });
        tx.insert('todos', { id: todo, list_id: list, title: 'logged' });
      });
      await a.sync();
      const pulled = (await (
        await fetch(`${h.url}/v1/pull?after=0`, {
          headers: { authorization: `Bearer ${await h.token('alice')}` },
        })
      ).json()) as {
        bundles: {
          sourceId: string | null;
          rows: { table: string; row: Record<string, unknown> | null }[];
        }[];
      };
      expect(pulled.bundles).toHaveLength(1);
      const [bundle] = pulled.bundles;
      expect(bundle!.sourceId).not.toBeNull();
      expect(bundle!.rows.map((r) => r.table).sort()).toEqual([
        'audit_log',
        'audit_log',
        'lists',
        'todos',
      ]);
      const audit = bundle!.rows.filter((r) => r.table === 'audit_log').map((r) => r.row!);
      expect(audit.map((r) => [r.table_name, r.row_pk, r.op]).sort()).toEqual(
        [
          ['lists', list, 'upsert'],
          ['todos', todo, 'upsert'],
        ].sort(),
      );
      // The pushing device has them from its answer, the other device from its pull.
      expect(await rowsOf(a, 'audit_log')).toHaveLength(2);
      await b.sync();
      expect(await rowsOf(b, 'audit_log')).toEqual(await rowsOf(a, 'audit_log'));
      expect(await rowsOf(b, 'audit_log')).toEqual(await serverRows(h, 'alice', 'audit_log'));

      // A device cannot write the server's audit log.
      const [first] = await rowsOf(a, 'audit_log');
      await a.write((tx) => tx.update('audit_log', String(first!.id), { op: 'forged' }));
      expect((await a.sync()).deadLettered).toEqual([
        expect.objectContaining({ table: 'audit_log', code: 'audit_is_server_only' }),
      ]);
    });

    it("beforeCommit's writes to another user's rows commit in that user's bundle, not the pusher's", async () => {
      const h = await start({
        async beforeCommit(tx, bundle) {
          for (const change of bundle.changes) {
            // Plain SQL, the same on both stores: a note in bob's log of what alice did.
            await tx.execute(
              `INSERT INTO audit_log (id, owner_id, table_name, row_pk, op, source) VALUES ('shared:${String(change.pk)}', 'bob', '${change.table}', '${String(change.pk)}', '${change.op}', '${bundle.userId}')`,
            );
          }
        },
      });
      const alice = await h.client('alice');
      const bob = await h.client('bob', 'bob');
      const list = uuid();
      await alice.write((tx) => tx.insert('lists', { id: list, name: 'shared' }));
      await alice.sync();
      expect(await rowsOf(alice, 'audit_log')).toEqual([]);
      await bob.sync();
      expect(await rowsOf(bob, 'audit_log')).toEqual([
        expect.objectContaining({ id: `shared:${list}`, owner_id: 'bob', source: 'alice' }),
      ]);
      expect(await h.server.store.lastBundleSeq('bob')).toBe(1);
    });

    it('a push answered with refusals gets the same answer again, and its committed rest replays', async () => {
      const h = await start();
      const sourceId = uuid();
      const list = uuid();
      const blank = uuid();
      const refused = {
        sourceId,
        sourceBundleId: 1,
        changes: [newList(list, 'inbox'), newTodo(blank, list, ' ')],
      };
      const first = await push(h, refused);
      expect(first.status).toBe(403);
      expect(JSON.parse(first.text)).toEqual({
        error: {
          code: 'forbidden',
          message: expect.stringContaining('title_blank') as unknown,
          details: {
            changes: [
              {
                index: 1,
                table: 'todos',
                pk: blank,
                hook: 'validate',
                hookCode: 'title_blank',
                message: 'a todo needs a title',
              },
            ],
          },
        },
      });
      expect(await push(h, refused)).toEqual(first);
      expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
      const metrics = await (await fetch(`${h.url}/metrics`)).text();
      expect(metrics).toContain('ferry_push_refusals_total{hook="validate",code="title_blank"} 2');

      // The rest goes again under the same sourceBundleId: it commits, with its audit row, once.
      const rest = { sourceId, sourceBundleId: 1, changes: [newList(list, 'inbox')] };
      const committed = await push(h, rest);
      expect(committed.status).toBe(200);
      const replayed = await push(h, rest);
      expect(replayed).toEqual(committed);
      const answer = JSON.parse(committed.text) as { bundleSeq: number; rows: { table: string }[] };
      expect(answer.bundleSeq).toBe(1);
      expect(answer.rows.map((r) => r.table).sort()).toEqual(['audit_log', 'lists']);
      expect(await serverRows(h, 'alice', 'audit_log')).toHaveLength(1);
    });

    it('a hook that throws fails the push with 500 internal, is logged with its cause, and commits nothing', async () => {
      const logged: { err?: unknown }[] = [];
      const logger: FerryLogger = {
        info: () => undefined,
        warn: () => undefined,
        error: (line: { err?: unknown }) => logged.push(line),
      };
      const h = await start(
        {
          tables: {
            todos: {
              validate: (change) => {
                if (change.row?.title === 'boom') throw new Error('a bug in the hook');
                return undefined;
              },
            },
          },
          beforeCommit: (_tx, bundle) => {
            if (bundle.changes.some((c) => c.row?.name === 'late boom')) {
              throw new Error('a bug after the writes');
            }
          },
        },
        logger,
      );
      const list = uuid();
      const sourceId = uuid();
      const early = await push(h, {
        sourceId,
        sourceBundleId: 1,
        changes: [newList(list, 'fine'), newTodo(uuid(), list, 'boom')],
      });
      expect(early.status).toBe(500);
      expect(JSON.parse(early.text)).toEqual({
        error: { code: 'internal', message: "the server's validate hook of table todos failed" },
      });
      const late = await push(h, {
        sourceId,
        sourceBundleId: 1,
        changes: [newList(list, 'late boom')],
      });
      expect(late.status).toBe(500);
      expect(logged.map((line) => (line.err as Error).cause)).toEqual([
        new Error('a bug in the hook'),
        new Error('a bug after the writes'),
      ]);
      expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
      expect(await h.server.store.lastBundleSeq('alice')).toBe(0);
      // Nothing consumed the sourceBundleId: the same id commits once the data is fine.
      expect(
        (await push(h, { sourceId, sourceBundleId: 1, changes: [newList(list, 'ok')] })).status,
      ).toBe(200);
    });

    it('ctx.query reads in the push transaction and refuses a statement that writes', async () => {
      const seen: number[] = [];
      const h = await start({
        tables: {
          lists: {
            validate: async (change, ctx) => {
              const [row] = await ctx.query('SELECT count(*) AS n FROM lists');
              seen.push(Number(row!.n));
              if (change.row?.name === 'sneaky') await ctx.query('DELETE FROM lists');
              return Number(row!.n) >= 2
                ? { refuse: { code: 'too_many_lists', message: 'two lists at most' } }
                : undefined;
            },
          },
        },
      });
      const sourceId = uuid();
      expect(
        (await push(h, { sourceId, sourceBundleId: 1, changes: [newList(uuid(), 'one')] })).status,
      ).toBe(200);
      expect(
        (await push(h, { sourceId, sourceBundleId: 2, changes: [newList(uuid(), 'two')] })).status,
      ).toBe(200);
      const third = await push(h, {
        sourceId,
        sourceBundleId: 3,
        changes: [newList(uuid(), 'three')],
      });
      expect(third.status).toBe(403);
      expect(third.text).toContain('too_many_lists');
      expect(seen).toEqual([0, 1, 2]);

      const sneaky = await push(h, {
        sourceId,
        sourceBundleId: 3,
        changes: [newList(uuid(), 'sneaky')],
      });
      expect(sneaky.status).toBe(500);
      expect(await serverRows(h, 'alice', 'lists')).toHaveLength(2);
    });
  });
}

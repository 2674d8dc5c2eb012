import { randomUUID } from 'node:crypto';
import { afterEach, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import type { RowEffect, WireRow } from '@ferry/protocol';
import type { RowState } from '../../core/decide-push.js';
import { planBundles, type CapturedRow } from '../../core/plan-bundles.js';
import pg from 'pg';
import { describePg, openTestStore, pgClientConfig } from './test-support/pg-test-database.js';

/**
 * PostgreSQL plans bundles twice over: `planBundles` of the core (the SQLite store's, and the
 * rules) and `seal()` in PL/pgSQL, which must run inside the database because it also seals raw
 * SQL writes at commit, where no Ferry code runs. This differential test keeps them one rule:
 * random transactions of raw SQL (inserts, edits, owner moves, deletes, rows created and removed
 * in the same transaction, across users and a parent and a child table) are sealed by the
 * database, and the bundles and row states it wrote must be what `planBundles` plans from the
 * same touched rows, their states before and the users' last seqs.
 *
 * `planBundles` is handed the rows as the database wrote them in the upsert effects: how a row
 * is encoded is each store's own business, who gets which effect, in which order, at which
 * version and seq is the rule under test.
 */
const USERS = ['alice', 'bob', 'carol'] as const;

describePg('seal() against planBundles', () => {
  let cleanup: (() => Promise<void>) | undefined;
  const admin = new pg.Client(pgClientConfig('ferry-seal-plan-test'));
  const adminQuery = async (sql: string, params?: unknown[]) =>
    (await admin.query(sql, params)).rows as Record<string, unknown>[];
  afterEach(async () => {
    await admin.end();
    await cleanup?.();
    cleanup = undefined;
  });

  it('writes the bundles and row states planBundles plans, for random raw SQL transactions', async () => {
    await admin.connect();
    const opened = await openTestStore();
    cleanup = opened.cleanup;
    const { store, schemas } = opened;
    const b = `"${schemas.business}"`;
    const m = `"${schemas.meta}"`;
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
    let state = seed;
    const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const where = `seed ${seed} (SEED=${seed} replays)`;

    // A list that is never deleted holds every todo; other lists come and go.
    const home = randomUUID();
    await store.write('alice', (tx) => tx.upsert('lists', { id: home, name: 'home' }));
    const lists: string[] = [];
    const todos: string[] = [];

    for (let round = 0; round < 25; round++) {
      const before = await metaState(adminQuery, m);
      const touched: { table: string; pk: string }[] = [];
      const touch = (table: string, pk: string) => {
        if (!touched.some((t) => t.table === table && t.pk === pk)) touched.push({ table, pk });
      };
      const result = await store.write('alice', async (tx) => {
        for (let step = 0; step < 1 + Math.floor(random() * 6); step++) {
          const kind = pick(['insert', 'edit', 'move', 'delete', 'flash'] as const);
          const table = pick(['lists', 'todos'] as const);
          const rows = table === 'lists' ? lists : todos;
          const owner = pick(USERS);
          if (kind === 'insert' || kind === 'flash' || rows.length === 0) {
            const id = randomUUID();
            touch(table, id);
            await tx.execute(
              table === 'lists'
                ? `INSERT INTO ${b}.lists (id, owner_id, name) VALUES ($1, $2, 'new')`
                : `INSERT INTO ${b}.todos (id, owner_id, list_id, title) VALUES ($1, $2, '${home}', 'new')`,
              [id, owner],
            );
            if (kind === 'flash') {
              await tx.execute(`DELETE FROM ${b}.${table} WHERE id = $1`, [id]);
            } else rows.push(id);
            continue;
          }
          const id = pick(rows);
          touch(table, id);
          if (kind === 'edit') {
            const column = table === 'lists' ? 'name' : 'title';
            await tx.execute(`UPDATE ${b}.${table} SET ${column} = $2 WHERE id = $1`, [
              id,
              `edit ${round}.${step}`,
            ]);
          } else if (kind === 'move') {
            await tx.execute(`UPDATE ${b}.${table} SET owner_id = $2 WHERE id = $1`, [id, owner]);
          } else {
            await tx.execute(`DELETE FROM ${b}.${table} WHERE id = $1`, [id]);
            rows.splice(rows.indexOf(id), 1);
          }
        }
      });
      const after = await metaState(adminQuery, m);
      const made = await adminQuery(
        `SELECT user_id, bundle_seq::int AS seq, rows FROM ${m}.bundles
         WHERE committed_at IS NOT NULL ORDER BY user_id, bundle_seq`,
      );
      const sealed = made
        .filter((r) => Number(r.seq) > (before.lastSeq.get(String(r.user_id)) ?? 0))
        .map((r) => ({
          userId: String(r.user_id),
          bundleSeq: Number(r.seq),
          effects: JSON.parse(String(r.rows)) as RowEffect[],
        }));
      const written = new Map<string, WireRow>();
      for (const bundle of sealed) {
        for (const e of bundle.effects)
          if (e.op === 'upsert') written.set(`${e.table}/${e.pk}`, e.row);
      }
      const current = await currentOwners(adminQuery, b, touched);
      const captured: CapturedRow[] = touched.map(({ table, pk }) => {
        const owner = current.get(`${table}/${pk}`);
        return {
          table,
          pk: pk,
          current:
            owner === undefined ? undefined : { owner, row: written.get(`${table}/${pk}`) ?? {} },
          previous: before.rows.get(`${table}/${pk}`),
        };
      });
      const plan = planBundles(captured, (user) => before.lastSeq.get(user) ?? 0, todoSchema.graph);
      const round_ = `${where}, round ${round}`;
      expect(sealed, round_).toEqual(
        [...plan.bundles]
          .sort((x, y) => (x.userId < y.userId ? -1 : 1))
          .map((p) => ({ userId: p.userId, bundleSeq: p.bundleSeq, effects: p.effects })),
      );
      expect(result.bundles.map((x) => [x.userId, x.bundleSeq, x.rowCount]).sort(), round_).toEqual(
        plan.bundles.map((p) => [p.userId, p.bundleSeq, p.effects.length]).sort(),
      );
      for (const { table, pk, state: planned } of plan.rowStates) {
        expect(after.rows.get(`${table}/${pk}`), `${round_}, ${table} ${pk}`).toEqual(planned);
      }
      // No other row's state moved.
      const plannedKeys = new Set(plan.rowStates.map((r) => `${r.table}/${r.pk}`));
      for (const [key, value] of after.rows) {
        if (!plannedKeys.has(key)) expect(value, `${round_}, ${key}`).toEqual(before.rows.get(key));
      }
    }
  });
});

type Query = (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>;

async function metaState(adminQuery: Query, m: string) {
  const rows = await adminQuery(
    `SELECT table_name, pk, owner, row_version::int AS v, deleted FROM ${m}.rows`,
  );
  const users = await adminQuery(`SELECT user_id, last_seq::int AS s FROM ${m}.users`);
  return {
    rows: new Map<string, RowState>(
      rows.map((r) => [
        `${String(r.table_name)}/${String(r.pk)}`,
        { owner: String(r.owner), rowVersion: Number(r.v), deleted: r.deleted === true },
      ]),
    ),
    lastSeq: new Map(users.map((u) => [String(u.user_id), Number(u.s)])),
  };
}

async function currentOwners(
  adminQuery: Query,
  b: string,
  keys: readonly { table: string; pk: string }[],
): Promise<Map<string, string>> {
  const rows = await adminQuery(
    `SELECT 'lists' AS t, id::text, owner_id FROM ${b}.lists WHERE id::text = ANY($1)
     UNION ALL SELECT 'todos', id::text, owner_id FROM ${b}.todos WHERE id::text = ANY($1)`,
    [keys.map((k) => k.pk)],
  );
  const wanted = new Set(keys.map((k) => `${k.table}/${k.pk}`));
  return new Map(
    rows
      .map((r) => [`${String(r.t)}/${String(r.id)}`, String(r.owner_id)] as const)
      .filter(([key]) => wanted.has(key)),
  );
}

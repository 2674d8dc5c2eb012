/**
 * Adopting tables that plain SQL made and filled: the check that changes nothing on a mismatch,
 * the row state of existing rows, writes by other connections during adoption, and an adoption
 * cut off half way and finished by the next start.
 */
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { FerryError, defineSchema, type SnapshotRow } from '@ferry/protocol';
import { genesisToken, nextHistoryToken } from '../../core/history-token.js';
import type { ServerStore } from '../server-store.js';
import { createPostgresStore, type PostgresStoreOptions } from './postgres-store.js';
import { makeHandMadeTodoTables } from './test-support/hand-made-tables.js';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  pgClientConfig,
  testSchemas,
  type TestSchemas,
} from './test-support/pg-test-database.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function storeOn(schemas: TestSchemas, options: Partial<PostgresStoreOptions> = {}): ServerStore {
  const store = createPostgresStore({
    connectionString: DATABASE_URL,
    schemaName: schemas.meta,
    businessSchema: schemas.business,
    pool: { max: 4 },
    ...options,
  });
  cleanups.push(() => store.close());
  return store;
}

function freshSchemas(): TestSchemas {
  const schemas = testSchemas();
  cleanups.push(() => schemas.drop());
  return schemas;
}

async function snapshotRows(store: ServerStore, userId: string) {
  const snapshot = await store.snapshot(userId);
  const rows: SnapshotRow[] = [];
  try {
    for await (const batch of snapshot.rows()) rows.push(...batch);
  } finally {
    await snapshot.close();
  }
  return { seq: snapshot.snapshotBundleSeq, token: snapshot.token, rows };
}

/** What the catalog and the rows of the business schema say, to prove nothing changed. */
async function businessState(business: string): Promise<string> {
  const rows = await adminQuery(
    `SELECT json_build_object(
       'lists', (SELECT json_agg(l ORDER BY l.id) FROM "${business}".lists AS l),
       'todos', (SELECT json_agg(t ORDER BY t.id) FROM "${business}".todos AS t),
       'triggers', (SELECT coalesce(json_agg(tgname ORDER BY tgname), '[]') FROM pg_trigger
                    WHERE tgrelid IN ('"${business}".lists'::regclass, '"${business}".todos'::regclass)),
       'indexes', (SELECT json_agg(indexname ORDER BY indexname) FROM pg_indexes WHERE schemaname = $1),
       'columns', (SELECT json_agg(table_name || '.' || column_name || ' ' || data_type ORDER BY table_name, column_name)
                   FROM information_schema.columns WHERE table_schema = $1)
     )::text AS state`,
    [business],
  );
  return String(rows[0]!.state);
}

async function metadataExists(meta: string): Promise<boolean> {
  const rows = await adminQuery('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [
    meta,
  ]);
  return rows[0]!.n === 1;
}

describePg('adopting existing tables on PostgreSQL', () => {
  it('refuses tables that do not fit the schema with every mismatch listed, and changes nothing', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 2, lists: 3, todosPerList: 2 });
    const b = `"${schemas.business}"`;
    await adminQuery(
      `ALTER TABLE ${b}.todos ALTER COLUMN position TYPE real;
       ALTER TABLE ${b}.todos DROP CONSTRAINT todo_list;
       ALTER TABLE ${b}.lists ADD COLUMN tenant text NOT NULL DEFAULT 'x';
       ALTER TABLE ${b}.lists ALTER COLUMN tenant DROP DEFAULT;
       ALTER TABLE ${b}.lists ALTER COLUMN owner_id DROP NOT NULL`,
    );
    const before = await businessState(schemas.business);

    const error = await storeOn(schemas, { adopt: true })
      .open(todoSchema)
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('adopt_mismatch');
    expect((error as FerryError).message).toBe(
      `the existing tables in schema "${schemas.business}" do not fit the schema (4 mismatches); nothing was changed:
  - lists.owner_id is nullable; the schema needs NOT NULL (the owner column)
  - lists.tenant is NOT NULL without a default and the schema does not declare it, so no insert from a device could fill it: give it a default, make it nullable or declare it
  - todos.position is real; the schema's real needs double precision
  - todos.list_id has no foreign key to lists.id`,
    );
    expect(
      ((error as FerryError).details as { mismatches: { kind: string }[] }).mismatches.map(
        (m) => m.kind,
      ),
    ).toEqual(['nullability', 'extra_required_column', 'wrong_type', 'missing_reference']);
    expect(await metadataExists(schemas.meta)).toBe(false);
    expect(await businessState(schemas.business)).toBe(before);
  });

  it('refuses existing tables without adopt, with an error that says how to adopt them', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 1, lists: 1, todosPerList: 0 });
    const error = await storeOn(schemas)
      .open(todoSchema)
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'invalid_schema' });
    expect((error as Error).message).toContain('--adopt');
    expect((error as Error).message).toContain('adopt: true');
    expect(await metadataExists(schemas.meta)).toBe(false);
  });

  it('gives existing rows version 1 under a first bundle that a pull from 0 is told to hydrate past', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 3, lists: 30, todosPerList: 4 });
    const events: string[] = [];
    const store = storeOn(schemas, {
      adopt: true,
      adoptBatchRows: 7,
      onEvent: (event) => events.push(event.kind),
    });
    await store.open(todoSchema);
    expect(events).toContain('adopting');

    const lists = await adminQuery(
      `SELECT id::text, name, owner_id FROM "${schemas.business}".lists WHERE owner_id = 'user-1' ORDER BY id`,
    );
    const serverId = store.serverId!;
    const snapshot = await snapshotRows(store, 'user-1');
    expect(snapshot.seq).toBe(1);
    // The adoption bundle is an ordinary link of the history: empty, tokened as any other.
    expect(snapshot.token).toBe(
      nextHistoryToken(genesisToken(serverId, 'user-1'), {
        bundleSeq: 1,
        sourceId: null,
        sourceBundleId: null,
        rowsJson: '[]',
      }),
    );
    expect(snapshot.rows).toHaveLength(10 * 5);
    expect(new Set(snapshot.rows.map((r) => r.rowVersion))).toEqual(new Set([1]));
    expect(
      snapshot.rows
        .filter((r) => r.table === 'lists')
        .map((r) => ({ id: r.pk, name: r.row.name, owner_id: r.row.owner_id }))
        .sort((x, y) => String(x.id).localeCompare(String(y.id))),
    ).toEqual(lists.map((l) => ({ id: l.id, name: l.name, owner_id: l.owner_id })));

    expect(await store.pull({ userId: 'user-1', after: 0, limit: 100 })).toMatchObject({
      kind: 'rejected',
      code: 'history_pruned',
    });
    expect(
      await store.pull({ userId: 'user-1', after: 1, limit: 100, token: snapshot.token! }),
    ).toMatchObject({ kind: 'page', page: { bundles: [], stableBundleSeq: 1 } });

    // Writes after adoption are ordinary history on top of it.
    const id = String(lists[0]!.id);
    await adminQuery(`UPDATE "${schemas.business}".lists SET name = 'renamed' WHERE id = $1`, [id]);
    await store.drainExternal();
    const page = await store.pull({ userId: 'user-1', after: 1, limit: 100 });
    expect(page).toMatchObject({
      kind: 'page',
      page: {
        stableBundleSeq: 2,
        bundles: [{ bundleSeq: 2 }],
      },
    });
    if (page.kind !== 'page') throw new Error('expected a page');
    const bundle = page.page.bundles[0]!;
    expect(JSON.parse(bundle.rowsJson)).toMatchObject([
      { table: 'lists', pk: id, op: 'upsert', rowVersion: 2, row: { name: 'renamed' } },
    ]);
  });

  it('serves afterwards every write other connections made while it adopted', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 4, lists: 400, todosPerList: 5 });
    const b = `"${schemas.business}"`;
    const writer = new pg.Client(pgClientConfig('adopt-test-writer'));
    await writer.connect();
    cleanups.push(() => writer.end());
    let writing = true;
    let writes = 0;
    const writeLoop = (async () => {
      for (let i = 0; writing; i++) {
        // Updates, inserts and deletes spread over the key space, each its own transaction.
        await writer.query(
          `UPDATE ${b}.todos SET title = 'edited ' || $1 WHERE id = (SELECT id FROM ${b}.todos ORDER BY md5(id::text || $1) LIMIT 1)`,
          [String(i)],
        );
        await writer.query(
          `INSERT INTO ${b}.todos (id, owner_id, list_id, title) SELECT gen_random_uuid(), owner_id, id, 'new ' || $1 FROM ${b}.lists ORDER BY md5(id::text || $1) LIMIT 1`,
          [String(i)],
        );
        await writer.query(
          `DELETE FROM ${b}.todos WHERE id = (SELECT id FROM ${b}.todos ORDER BY md5(id::text || 'd' || $1) LIMIT 1)`,
          [String(i)],
        );
        await writer.query(
          `UPDATE ${b}.lists SET owner_id = 'user-' || ($1::int % 5) WHERE id = (SELECT id FROM ${b}.lists ORDER BY md5(id::text || $1::text) LIMIT 1)`,
          [i],
        );
        writes++;
      }
    })();
    const store = storeOn(schemas, { adopt: true, adoptBatchRows: 50 });
    try {
      // Wait for the writer to be under way before adoption starts.
      while (writes < 3) await new Promise((resolve) => setTimeout(resolve, 5));
      const before = writes;
      await store.open(todoSchema);
      const during = writes;
      expect(during).toBeGreaterThan(before);
      while (writes < during + 3) await new Promise((resolve) => setTimeout(resolve, 5));
    } finally {
      writing = false;
      await writeLoop;
    }
    expect(writes).toBeGreaterThan(3);

    // Every row of every table has a live state for its current owner, and nothing else does.
    const orphans = await adminQuery(
      `SELECT count(*)::int AS n FROM "${schemas.meta}".rows AS r
       WHERE NOT r.deleted AND NOT EXISTS (SELECT FROM ${b}.todos t WHERE r.table_name = 'todos' AND t.id::text = r.pk AND t.owner_id = r.owner)
         AND NOT EXISTS (SELECT FROM ${b}.lists l WHERE r.table_name = 'lists' AND l.id::text = r.pk AND l.owner_id = r.owner)`,
    );
    expect(orphans[0]!.n).toBe(0);
    for (const userId of ['user-0', 'user-1', 'user-2', 'user-3', 'user-4']) {
      const expected = await adminQuery(
        `SELECT 'lists' AS t, id::text AS id, name AS v FROM ${b}.lists WHERE owner_id = $1
         UNION ALL SELECT 'todos', id::text, title FROM ${b}.todos WHERE owner_id = $1 ORDER BY 1, 2`,
        [userId],
      );
      const { rows } = await snapshotRows(store, userId);
      expect(
        rows
          .map((r) => ({ t: r.table, id: r.pk, v: r.table === 'lists' ? r.row.name : r.row.title }))
          .sort((x, y) => `${x.t} ${String(x.id)}`.localeCompare(`${y.t} ${String(y.id)}`)),
      ).toEqual(expected.map((e) => ({ t: e.t, id: e.id, v: e.v })));
      // A device pulling from 0 hydrates: the history before adoption is not replayable.
      expect(await store.pull({ userId, after: 0, limit: 10 })).toMatchObject({
        kind: 'rejected',
        code: 'history_pruned',
      });
    }
  });

  for (const outcome of ['COMMIT', 'ROLLBACK'] as const) {
    it(`leaves a row that another transaction was deleting while its batch ran to that transaction (${outcome})`, async () => {
      const schemas = freshSchemas();
      await makeHandMadeTodoTables(schemas.business, { users: 2, lists: 100, todosPerList: 20 });
      const b = `"${schemas.business}"`;
      const [last] = await adminQuery(
        `SELECT id::text AS id, (SELECT count(*)::int FROM ${b}.todos) AS n FROM ${b}.todos ORDER BY id DESC LIMIT 1`,
      );
      const { id, n } = last as { id: string; n: number };
      const deleter = new pg.Client(pgClientConfig('adopt-test-deleter'));
      await deleter.connect();
      cleanups.push(() => deleter.end());
      let deleting: Promise<unknown> | undefined;
      let ending: Promise<unknown> | undefined;
      const store = storeOn(schemas, {
        adopt: true,
        adoptBatchRows: 20,
        onEvent: (event) => {
          if (event.kind !== 'adopting' || event.progress.step !== 'rows') return;
          if (event.progress.table !== 'todos') return;
          // Captured (the triggers are in), uncommitted, on the last key: the walk gets there
          // while the delete is in flight.
          deleting ??= deleter
            .query('BEGIN')
            .then(() => deleter.query(`DELETE FROM ${b}.todos WHERE id = $1`, [id]));
          // The walk has passed every key: the deleting transaction ends.
          if (event.progress.rows >= n - 1) ending ??= deleting.then(() => deleter.query(outcome));
        },
      });
      await store.open(todoSchema);
      await ending;
      const states = await adminQuery(
        `SELECT deleted, row_version::int AS row_version FROM "${schemas.meta}".rows WHERE table_name = 'todos' AND pk = $1`,
        [id],
      );
      const rows = await adminQuery(`SELECT count(*)::int AS n FROM ${b}.todos WHERE id = $1`, [
        id,
      ]);
      if (outcome === 'COMMIT') {
        // Gone before any device saw it: no state at all, not a live one for a missing row.
        expect(rows).toEqual([{ n: 0 }]);
        expect(states).toEqual([]);
      } else {
        expect(rows).toEqual([{ n: 1 }]);
        expect(states).toEqual([{ deleted: false, row_version: 1 }]);
      }
    });
  }

  it('walks integer and text primary keys in order, whatever their width', async () => {
    const schemas = freshSchemas();
    const b = `"${schemas.business}"`;
    await adminQuery(`CREATE SCHEMA ${b};
      CREATE TABLE ${b}.notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, owner_id text NOT NULL, body text);
      CREATE TABLE ${b}.tags (id varchar(40) PRIMARY KEY, owner_id text NOT NULL);
      INSERT INTO ${b}.notes (owner_id, body) SELECT 'u' || (i % 3), 'note ' || i FROM generate_series(1, 95) AS i;
      INSERT INTO ${b}.notes (id, owner_id) VALUES (9007199254740991, 'u0'), (-5, 'u0');
      INSERT INTO ${b}.tags SELECT 'tag-' || i, 'u' || (i % 3) FROM generate_series(1, 61) AS i;`);
    const schema = defineSchema({
      tables: {
        notes: {
          owner: 'owner_id',
          columns: {
            id: { type: 'integer' },
            owner_id: { type: 'text' },
            body: { type: 'text' },
          },
        },
        tags: {
          owner: 'owner_id',
          columns: { id: { type: 'text', maxLength: 40 }, owner_id: { type: 'text' } },
        },
      },
    });
    const batches: Record<string, number[]> = { notes: [], tags: [] };
    const store = storeOn(schemas, {
      adopt: true,
      adoptBatchRows: 7,
      onEvent: (event) => {
        if (event.kind === 'adopting' && event.progress.step === 'rows') {
          batches[event.progress.table]!.push(event.progress.rows);
        }
      },
    });
    await store.open(schema);
    // The walk itself took every row, 7 at a time (no batch was left to the pass for stragglers).
    expect(batches.notes).toEqual([7, 14, 21, 28, 35, 42, 49, 56, 63, 70, 77, 84, 91, 97]);
    expect(batches.tags).toHaveLength(9);
    expect(batches.tags!.at(-1)).toBe(61);
    const states = await adminQuery(
      `SELECT table_name, count(*)::int AS n FROM "${schemas.meta}".rows GROUP BY 1 ORDER BY 1`,
    );
    expect(states).toEqual([
      { table_name: 'notes', n: 97 },
      { table_name: 'tags', n: 61 },
    ]);
    const { rows } = await snapshotRows(store, 'u0');
    expect(rows.filter((r) => r.table === 'notes').map((r) => r.pk)).toContain(9007199254740991);
    expect(rows.filter((r) => r.table === 'tags')).toHaveLength(20);
  });

  it('gives every user one adoption bundle, also when it is cut off between batches of users', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 2500, lists: 2500, todosPerList: 0 });
    const first = storeOn(schemas, {
      adopt: true,
      onEvent: (event) => {
        // The process fails right after the first batch of users committed.
        if (event.kind === 'adopting' && event.progress.step === 'users') {
          throw new Error('stopped after 1,000 users');
        }
      },
    });
    await expect(first.open(todoSchema)).rejects.toThrow('stopped after 1,000 users');
    const given = `SELECT count(*)::int AS users, count(*) FILTER (WHERE n > 1)::int AS twice FROM (
      SELECT user_id, count(*) AS n FROM "${schemas.meta}".bundles WHERE row_count = 0 AND source_id IS NULL GROUP BY 1) AS b`;
    expect(await adminQuery(given)).toEqual([{ users: 1000, twice: 0 }]);

    await storeOn(schemas, { adopt: true }).open(todoSchema);
    expect(await adminQuery(given)).toEqual([{ users: 2500, twice: 0 }]);
    expect(
      await adminQuery(
        `SELECT count(*)::int AS n FROM "${schemas.meta}".users WHERE pruned_through <> 1 OR last_seq <> 1`,
      ),
    ).toEqual([{ n: 0 }]);
  });

  it('adopts once when several instances start together with adopt, and every one of them serves', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 2, lists: 200, todosPerList: 5 });
    const stores = [1, 2, 3].map(() => storeOn(schemas, { adopt: true, adoptBatchRows: 50 }));
    await Promise.all(stores.map((store) => store.open(todoSchema)));
    expect(new Set(stores.map((store) => store.serverId)).size).toBe(1);
    for (const store of stores) {
      const snapshot = await snapshotRows(store, 'user-1');
      expect(snapshot.seq).toBe(1);
      expect(snapshot.rows).toHaveLength(600);
    }
  });

  it('finishes an adoption cut off half way on the next start with adopt, and refuses to serve before', async () => {
    const schemas = freshSchemas();
    await makeHandMadeTodoTables(schemas.business, { users: 3, lists: 300, todosPerList: 3 });
    let killed: Promise<unknown> | undefined;
    const first = storeOn(schemas, {
      adopt: true,
      adoptBatchRows: 20,
      onEvent: (event) => {
        if (event.kind !== 'adopting' || event.progress.step !== 'rows' || killed) return;
        // The connection dies under the adoption, as in a crash of its process.
        killed = adminQuery(
          'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
          [`ferry:${schemas.meta}`],
        );
      },
    });
    await expect(first.open(todoSchema)).rejects.toThrow();
    await killed;
    const adopted = await adminQuery(`SELECT count(*)::int AS n FROM "${schemas.meta}".rows`);
    expect(adopted[0]!.n).toBeGreaterThan(0);
    expect(adopted[0]!.n).toBeLessThan(1200);
    // The walk kept where it stopped, with the batches it committed: every key up to it is done.
    const [cursor] = await adminQuery(
      `SELECT value FROM "${schemas.meta}".meta WHERE key = 'adopting_after:lists'`,
    );
    const undone = await adminQuery(
      `SELECT count(*)::int AS n FROM "${schemas.business}".lists AS l WHERE l.id <= $1::uuid
       AND NOT EXISTS (SELECT FROM "${schemas.meta}".rows AS r WHERE r.table_name = 'lists' AND r.pk = l.id::text)`,
      [cursor!.value],
    );
    expect(undone).toEqual([{ n: 0 }]);

    const without = await storeOn(schemas)
      .open(todoSchema)
      .catch((e: unknown) => e);
    expect(without).toMatchObject({ code: 'invalid_schema' });
    expect((without as Error).message).toContain('did not finish');

    const again = storeOn(schemas, { adopt: true, adoptBatchRows: 20 });
    await again.open(todoSchema);
    const states = await adminQuery(
      `SELECT count(*)::int AS n, max(row_version)::int AS v FROM "${schemas.meta}".rows`,
    );
    expect(states[0]).toEqual({ n: 1200, v: 1 });
    expect(
      await adminQuery(
        `SELECT key FROM "${schemas.meta}".meta WHERE key LIKE 'adopting%' ORDER BY key`,
      ),
    ).toEqual([]);
    expect((await snapshotRows(again, 'user-2')).rows).toHaveLength(400);
    // A third start, with or without adopt, finds nothing to do.
    await again.close();
    const third = storeOn(schemas);
    await third.open(todoSchema);
    expect((await snapshotRows(third, 'user-2')).seq).toBe(1);
  });
});

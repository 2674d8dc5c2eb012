import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterEach, expect, it } from 'vitest';
import { todoHistory, todoSchema, todoV2 } from '@ferry/example-todo';
import { defineSchema, schemaHistory, type Change, type RowEffect } from '@ferry/protocol';
import { RESTRICT_CHAIN, todo } from '../../test-support/harness.js';
import { pullAll, readSnapshot } from '../../test-support/store-contract.js';
import type { CommittedBundle, PushOutcome, ServerStore } from '../server-store.js';
import { metadataMigrations, pgNames } from './postgres-ddl.js';
import { migrate } from './postgres-migrate.js';
import { createPostgresStore } from './postgres-store.js';
import {
  DATABASE_URL,
  adminQuery,
  describePg,
  dumpPgState,
  openTestStore,
  pgClientConfig,
  testSchemas,
  type TestSchemas,
} from './test-support/pg-test-database.js';
import { hostPortOf, startTcpProxy, throughPort } from './test-support/tcp-proxy.js';

const ALICE = 'alice';
const BOB = 'bob';

/** Every column type, a self-reference (a cycle of one), a restrict, and a two-table cycle. */
const typesSchema = defineSchema({
  tables: {
    folders: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        parent_id: { type: 'uuid', references: { table: 'folders', onDelete: 'set null' } },
        name: { type: 'text', notNull: true, maxLength: 10 },
        created: { type: 'timestamp', serverDerived: 'insertTime' },
        changed: { type: 'timestamp', serverDerived: 'commitTime' },
      },
    },
    things: {
      owner: 'owner',
      primaryKey: 'n',
      columns: {
        n: { type: 'integer' },
        owner: { type: 'text' },
        folder_id: {
          type: 'uuid',
          notNull: true,
          references: { table: 'folders', onDelete: 'restrict' },
        },
        label: { type: 'text', default: 'none' },
        score: { type: 'real' },
        on: { type: 'boolean', notNull: true, default: true },
        at: { type: 'timestamp' },
        data: { type: 'json' },
      },
    },
    husbands: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        wife_id: { type: 'text', references: { table: 'wives', onDelete: 'set null' } },
      },
    },
    wives: {
      owner: 'owner_id',
      columns: {
        id: { type: 'text' },
        owner_id: { type: 'text' },
        husband_id: { type: 'text', references: { table: 'husbands', onDelete: 'cascade' } },
      },
    },
  },
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function open(options: Parameters<typeof openTestStore>[0] = {}) {
  const opened = await openTestStore(options);
  cleanups.push(opened.cleanup);
  return opened;
}

/** Runs statements on a plain connection of its own in one transaction, as psql would. */
async function rawTx(
  schemas: TestSchemas,
  fn: (client: pg.Client) => Promise<void>,
): Promise<void> {
  const client = new pg.Client(pgClientConfig());
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query(`SET search_path = "${schemas.business}"`);
    await client.query('BEGIN');
    await fn(client);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  } finally {
    await client.end();
  }
}

function raw(schemas: TestSchemas, sql: string, params: unknown[] = []) {
  return rawTx(schemas, async (client) => {
    await client.query(sql, params);
  });
}

function push(
  store: ServerStore,
  userId: string,
  sourceId: string,
  sourceBundleId: number,
  changes: Change[],
  now = new Date(),
): Promise<PushOutcome> {
  return store.push({ userId, sourceId, sourceBundleId, changes, now });
}

function committed(outcome: PushOutcome) {
  if (outcome.kind !== 'committed')
    throw new Error(`expected a commit: ${JSON.stringify(outcome)}`);
  return JSON.parse(outcome.responseJson) as { bundleSeq: number; rows: RowEffect[] };
}

const effects = (rows: readonly RowEffect[]) =>
  rows.map((r) => `${r.op} ${r.table} ${String(r.pk)}`);

describePg('the PostgreSQL store', () => {
  it('creates real PostgreSQL tables: types, NOT NULL, defaults, length checks, foreign keys with the schema’s actions, deferrable only in cycles', async () => {
    const { schemas, store } = await open({ schema: typesSchema });
    const columns = await adminQuery(
      `SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns
       WHERE table_schema = $1 ORDER BY table_name, ordinal_position`,
      [schemas.business],
    );
    const describe = (table: string) =>
      columns
        .filter((c) => c.table_name === table)
        .map((c) => [c.column_name, c.data_type, c.is_nullable, c.column_default]);
    expect(describe('things')).toEqual([
      ['n', 'bigint', 'NO', null],
      ['owner', 'text', 'NO', null],
      ['folder_id', 'uuid', 'NO', null],
      ['label', 'text', 'YES', "'none'::text"],
      ['score', 'double precision', 'YES', null],
      ['on', 'boolean', 'NO', 'true'],
      ['at', 'timestamp with time zone', 'YES', null],
      ['data', 'jsonb', 'YES', null],
    ]);
    expect(describe('folders').map((c) => c[1])).toEqual([
      'uuid',
      'text',
      'uuid',
      'text',
      'timestamp with time zone',
      'timestamp with time zone',
    ]);
    const foreignKeys = await adminQuery(
      `SELECT c.conrelid::regclass::text AS child, c.confdeltype AS action, c.condeferrable AS deferrable, c.condeferred AS deferred
       FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
       WHERE n.nspname = $1 AND c.contype = 'f' ORDER BY c.conname`,
      [schemas.business],
    );
    const b = `${schemas.business}.`;
    expect(foreignKeys).toEqual([
      { child: `${b}folders`, action: 'n', deferrable: true, deferred: true },
      { child: `${b}husbands`, action: 'n', deferrable: true, deferred: true },
      { child: `${b}things`, action: 'a', deferrable: false, deferred: false },
      { child: `${b}wives`, action: 'c', deferrable: true, deferred: true },
    ]);
    await expect(
      raw(
        schemas,
        `INSERT INTO folders (id, owner_id, name) VALUES ('${randomUUID()}', 'alice', 'far too long')`,
      ),
    ).rejects.toThrow(/check constraint/);
    const todoStore = await open();
    const todoFk = await adminQuery(
      `SELECT confdeltype AS action, condeferrable AS deferrable FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = $1 AND contype = 'f'`,
      [todoStore.schemas.business],
    );
    expect(todoFk).toEqual([{ action: 'c', deferrable: false }]);
    void store;
  });

  it('round-trips every column type and commits rows that reference each other in one bundle', async () => {
    const { store, schemas } = await open({ schema: typesSchema });
    const folder = randomUUID();
    const thing = {
      n: 9_007_199_254_740_991,
      folder_id: folder,
      label: 'ünïcödé ✓ "quoted" \\ back',
      score: 0.1 + 0.2,
      on: false,
      at: '2026-11-21T10:00:00.123Z',
      data: { nested: [1, 'two', { three: null }], b: true, a: -0.5 },
    };
    const outcome = await push(
      store,
      ALICE,
      randomUUID(),
      1,
      [
        { table: 'things', pk: thing.n, op: 'upsert', baseVersion: null, row: thing },
        {
          table: 'folders',
          pk: folder,
          op: 'upsert',
          baseVersion: null,
          row: { id: folder, name: 'root', parent_id: null },
        },
        {
          table: 'wives',
          pk: 'w',
          op: 'upsert',
          baseVersion: null,
          row: { id: 'w', husband_id: 'h' },
        },
        {
          table: 'husbands',
          pk: 'h',
          op: 'upsert',
          baseVersion: null,
          row: { id: 'h', wife_id: 'w' },
        },
      ],
      new Date('2026-11-21T12:00:00.000Z'),
    );
    const body = committed(outcome);
    expect(effects(body.rows)).toEqual([
      `upsert folders ${folder}`,
      'upsert things 9007199254740991',
      'upsert husbands h',
      'upsert wives w',
    ]);
    expect(body.rows[1]!.row).toEqual({ ...thing, owner: ALICE });
    expect(body.rows[0]!.row).toEqual({
      id: folder,
      owner_id: ALICE,
      parent_id: null,
      name: 'root',
      created: '2026-11-21T12:00:00.000Z',
      changed: '2026-11-21T12:00:00.000Z',
    });
    const snapshot = await readSnapshot(store, ALICE);
    expect(snapshot.rows.find((r) => r.table === 'things')!.row).toEqual({
      ...thing,
      owner: ALICE,
    });
    const stored = await adminQuery(
      `SELECT n, score, "on", at, data FROM "${schemas.business}".things`,
    );
    expect(stored).toEqual([
      {
        n: '9007199254740991',
        score: 0.30000000000000004,
        on: false,
        at: new Date(thing.at),
        data: thing.data,
      },
    ]);
    // insertTime stays, commitTime moves; the restrict refuses a folder still in use.
    const later = committed(
      await push(
        store,
        ALICE,
        randomUUID(),
        1,
        [
          {
            table: 'folders',
            pk: folder,
            op: 'upsert',
            baseVersion: 1,
            row: { id: folder, name: 'renamed' },
          },
        ],
        new Date('2026-11-21T13:00:00.000Z'),
      ),
    );
    expect(later.rows[0]!.row).toMatchObject({
      created: '2026-11-21T12:00:00.000Z',
      changed: '2026-11-21T13:00:00.000Z',
    });
    expect(
      await push(store, ALICE, randomUUID(), 1, [
        { table: 'folders', pk: folder, op: 'delete', baseVersion: 2 },
      ]),
    ).toMatchObject({ kind: 'rejected', code: 'validation_failed' });
    // Deleting a husband cascades to his wife, whose husband_id … the cycle is deferred.
    const gone = committed(
      await push(store, ALICE, randomUUID(), 1, [
        { table: 'husbands', pk: 'h', op: 'delete', baseVersion: 1 },
      ]),
    );
    expect(effects(gone.rows)).toEqual(['delete wives w', 'delete husbands h']);
  });

  it('applies its migrations once when several instances start on one database at the same time', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const names = pgNames(schemas.meta, schemas.business);
    const clients = await connectedClients(4);
    try {
      const results = await Promise.all(clients.map((c) => migrate(c, todoSchema, names)));
      const serverId = results[0]!.serverId;
      expect(results.filter((r) => r.applied.length > 0)).toEqual([
        {
          applied: metadataMigrations(names).map((m) => m.version),
          createdTables: true,
          installedCapture: true,
          serverId,
          migratedTo: [],
        },
      ]);
      expect(results.filter((r) => r.applied.length === 0)).toHaveLength(3);
      // One identity, whichever instance made it.
      expect(results.map((r) => r.serverId)).toEqual(Array(4).fill(serverId));
      // A restart finds everything current and takes no lock.
      expect(await migrate(clients[0]!, todoSchema, names)).toEqual({
        applied: [],
        createdTables: false,
        installedCapture: false,
        serverId,
        migratedTo: [],
      });
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const recorded = await adminQuery(`SELECT version, name FROM "${schemas.meta}".migrations`);
    expect(recorded).toEqual([
      { version: 1, name: 'sync metadata' },
      { version: 2, name: 'history tokens and bundle digests' },
      { version: 3, name: 'schema versions' },
      { version: 4, name: 'tombstones by owner' },
    ]);
    // Eight stores opening together all work on the result.
    const stores = await Promise.all(
      Array.from({ length: 8 }, () => open({ schemas, pool: { max: 1 } })),
    );
    expect(await Promise.all(stores.map((s) => s.store.lastBundleSeq(ALICE)))).toEqual(
      Array(8).fill(0),
    );
  });

  it('migrates the app schema once when several instances start the same migration at the same time', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const names = pgNames(schemas.meta, schemas.business);
    const clients = await connectedClients(4);
    try {
      await migrate(clients[0]!, todoSchema, names);
      const list = randomUUID();
      const b = `"${schemas.business}"`;
      await adminQuery(
        `INSERT INTO ${b}.lists (id, owner_id, name) VALUES ('${list}', 'alice', 'L');
         INSERT INTO ${b}.todos (id, owner_id, list_id, title, position) VALUES
           ('${randomUUID()}', 'alice', '${list}', 'a', 7.9), ('${randomUUID()}', 'alice', '${list}', 'b', NULL)`,
      );
      const results = await Promise.all(clients.map((c) => migrate(c, todoHistory, names)));
      expect(results.map((r) => r.migratedTo).filter((m) => m.length > 0)).toEqual([[2, 3, 4, 5]]);
      const versions = await adminQuery(
        `SELECT version, how FROM "${schemas.meta}".schema_versions ORDER BY version`,
      );
      expect(versions).toEqual([
        { version: 1, how: 'created' },
        ...[2, 3, 4, 5].map((version) => ({ version, how: 'migrated' })),
      ]);
      // One backfill bundle (the todo at 7.9 got priority 7), stamped with the version it is in.
      const bundles = await adminQuery(
        `SELECT bundle_seq, source_id, schema_version, rows FROM "${schemas.meta}".bundles WHERE user_id = 'alice' ORDER BY bundle_seq`,
      );
      expect(bundles.map((r) => [r['bundle_seq'], r['schema_version']])).toEqual([
        ['1', 1],
        ['2', 5],
      ]);
      expect(JSON.parse(bundles[1]!['rows'] as string)).toEqual([
        expect.objectContaining({
          table: 'todos',
          row: expect.objectContaining({ text: 'a', priority: 7 }),
        }),
      ]);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it('goes on with a version whose custom SQL failed after its structure committed, without doing the structure twice', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    const names = pgNames(schemas.meta, schemas.business);
    const client = (await connectedClients(1))[0]!;
    try {
      await migrate(client, todoSchema, names);
      const b = `"${schemas.business}"`;
      await adminQuery(`CREATE SEQUENCE ${b}.fail_once`);
      const failing = defineSchema({
        ...todoV2.declaration,
        migration: {
          // nextval is not rolled back: the first run fails, the second goes through.
          sql: `SELECT 1 / (nextval('fail_once') - 1); UPDATE todos SET priority = 3`,
        },
      });
      const history = schemaHistory(todoSchema, failing);
      await expect(migrate(client, history, names)).rejects.toMatchObject({ code: '22012' });
      const meta = await adminQuery(
        `SELECT key, value FROM "${schemas.meta}".meta WHERE key IN ('migrating', 'schema_version') ORDER BY key`,
      );
      expect(meta).toEqual([
        { key: 'migrating', value: '2:structure' },
        { key: 'schema_version', value: '1' },
      ]);
      const list = randomUUID();
      await adminQuery(
        `INSERT INTO ${b}.lists (id, owner_id, name) VALUES ('${list}', 'alice', 'L');
         INSERT INTO ${b}.todos (id, owner_id, list_id, title) VALUES ('${randomUUID()}', 'alice', '${list}', 't')`,
      );
      expect((await migrate(client, history, names)).migratedTo).toEqual([2]);
      expect(await adminQuery(`SELECT priority FROM ${b}.todos`)).toEqual([{ priority: '3' }]);
      expect(
        await adminQuery(`SELECT key FROM "${schemas.meta}".meta WHERE key = 'migrating'`),
      ).toEqual([]);
    } finally {
      await client.end();
    }
  });

  it('refuses to open a database made for another schema, or business tables it did not make', async () => {
    const { schemas } = await open();
    const other = createPostgresStore({
      connectionString: DATABASE_URL,
      schemaName: schemas.meta,
      businessSchema: schemas.business,
    });
    await expect(other.open(typesSchema)).rejects.toMatchObject({ code: 'invalid_schema' });
    const stranger = createPostgresStore({
      connectionString: DATABASE_URL,
      schemaName: `${schemas.meta}_x`,
      businessSchema: schemas.business,
    });
    cleanups.push(() =>
      adminQuery(`DROP SCHEMA IF EXISTS "${schemas.meta}_x" CASCADE`).then(() => undefined),
    );
    await expect(stranger.open(todoSchema)).rejects.toMatchObject({
      code: 'invalid_schema',
      message: expect.stringMatching(/already exists/),
    });
  });

  it('captures plain SQL from another connection: inserts, updates, deletes, cascades, key changes, several users, a trigger’s writes, and nothing for a row born and gone in one transaction', async () => {
    const { store, schemas } = await open();
    const heard: CommittedBundle[] = [];
    store.onCommit((bundles) => heard.push(...bundles));
    const list = randomUUID();
    const item = randomUUID();
    let txTime = '';
    await rawTx(schemas, async (c) => {
      await c.query(`INSERT INTO lists (id, owner_id, name) VALUES ($1, 'alice', 'raw')`, [list]);
      txTime = (
        await c.query<{ t: Date }>(`SELECT date_trunc('milliseconds', now()) AS t`)
      ).rows[0]!.t.toISOString();
    });
    await rawTx(schemas, async (c) => {
      await c.query(
        `INSERT INTO todos (id, owner_id, list_id, title) VALUES ($1, 'alice', $2, 'milk')`,
        [item, list],
      );
      await c.query(`UPDATE lists SET name = 'renamed' WHERE id = $1`, [list]);
      const ghost = randomUUID();
      await c.query(`INSERT INTO lists (id, owner_id, name) VALUES ($1, 'alice', 'ghost')`, [
        ghost,
      ]);
      await c.query(`DELETE FROM lists WHERE id = $1`, [ghost]);
    });
    const bobList = randomUUID();
    await rawTx(schemas, async (c) => {
      await c.query(`UPDATE lists SET name = 'again' WHERE id = $1`, [list]);
      await c.query(`INSERT INTO lists (id, owner_id, name) VALUES ($1, 'bob', 'bob''s')`, [
        bobList,
      ]);
    });
    // A trigger of the backend's own writes another table; both land in one bundle.
    await raw(
      schemas,
      `CREATE FUNCTION touch_list() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN UPDATE lists SET name = name || '+' WHERE id = NEW.list_id; RETURN NEW; END $$;
       CREATE TRIGGER touch_list AFTER INSERT ON todos FOR EACH ROW EXECUTE FUNCTION touch_list();`,
    );
    const second = randomUUID();
    await raw(
      schemas,
      `INSERT INTO todos (id, owner_id, list_id, title) VALUES ($1, 'alice', $2, 'eggs')`,
      [second, list],
    );
    const moved = randomUUID();
    await raw(schemas, `UPDATE todos SET id = $2 WHERE id = $1`, [second, moved]);
    await raw(schemas, `DELETE FROM lists WHERE id = $1`, [list]);

    const alice = await pullAll(store, ALICE);
    expect(alice.map((b) => [b.bundleSeq, b.sourceId, b.sourceBundleId])).toEqual(
      [1, 2, 3, 4, 5, 6].map((seq) => [seq, null, null]),
    );
    expect(alice.map((b) => effects(b.rows))).toEqual([
      [`upsert lists ${list}`],
      [`upsert lists ${list}`, `upsert todos ${item}`],
      [`upsert lists ${list}`],
      [`upsert lists ${list}`, `upsert todos ${second}`],
      [`upsert todos ${moved}`, `delete todos ${second}`],
      [`delete todos ${item}`, `delete todos ${moved}`, `delete lists ${list}`],
    ]);
    expect(alice[0]!.rows[0]!.row).toMatchObject({ name: 'raw', updated_at: txTime });
    expect(alice[3]!.rows[0]!.row).toMatchObject({ name: 'again+' });
    expect(alice.map((b) => b.rows.map((r) => r.rowVersion))).toEqual([
      [1],
      [2, 2],
      [3],
      [4, 4],
      [5, 5],
      [6, 6, 6],
    ]);
    const bob = await pullAll(store, BOB);
    expect(bob.map((b) => effects(b.rows))).toEqual([[`upsert lists ${bobList}`]]);
    await store.drainExternal();
    expect(heard.map((b) => `${b.userId}:${b.bundleSeq}:${b.origin}:${b.rowCount}`)).toEqual([
      'alice:1:backend:1',
      'alice:2:backend:2',
      'alice:3:backend:1',
      'bob:1:backend:1',
      'alice:4:backend:2',
      'alice:5:backend:2',
      'alice:6:backend:3',
    ]);
    expect(heard.every((b) => b.remote)).toBe(true);
  });

  it('answers fk_violation when a cascade runs into a restrict further down, committing nothing', async () => {
    const { store, schemas } = await open({ schema: RESTRICT_CHAIN.schema });
    const source = randomUUID();
    committed(await push(store, 'u', source, 1, RESTRICT_CHAIN.created));
    const before = await dumpPgState(schemas);
    expect(await push(store, 'u', source, 2, [RESTRICT_CHAIN.deleteA])).toMatchObject({
      kind: 'rejected',
      code: 'validation_failed',
      details: { errors: [{ index: 0, code: 'fk_violation' }] },
    });
    expect(await dumpPgState(schemas)).toBe(before);
    expect(before).toContain('"c1"');
  });

  it('decides a push again when a concurrent commit changed its rows before it wrote them, and answers 409', async () => {
    const { store, schemas } = await open();
    const list = todo.list();
    committed(await push(store, ALICE, randomUUID(), 1, [list]));
    // Backend code changes the list and holds its transaction open.
    const backend = new pg.Client(pgClientConfig());
    backend.on('error', () => undefined);
    await backend.connect();
    cleanups.push(() => backend.end());
    await backend.query('BEGIN');
    await backend.query(`UPDATE "${schemas.business}".lists SET name = 'backend' WHERE id = $1`, [
      list.pk,
    ]);
    // The device's push, decided on version 1, has to wait for the list's row lock …
    const pushing = push(store, ALICE, randomUUID(), 1, [
      todo.list(list.pk as string, 'device', 1),
    ]);
    await waitFor(async () => {
      const waiting = await adminQuery(
        `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [`ferry:${schemas.meta}`],
      );
      return (waiting[0]!.n as number) > 0;
    });
    // … and once the backend commits version 2, it must not overwrite it blindly.
    await backend.query('COMMIT');
    const outcome = await pushing;
    expect(outcome).toMatchObject({
      kind: 'conflict',
      conflicts: [
        {
          index: 0,
          baseVersion: 1,
          serverVersion: 2,
          serverRow: expect.objectContaining({ name: 'backend' }),
        },
      ],
    });
    const alice = await pullAll(store, ALICE);
    expect(alice.map((b) => b.rows[0]!.row)).toMatchObject([
      { name: 'Groceries' },
      { name: 'backend' },
    ]);
  });

  it('refuses TRUNCATE, which would bypass the capture triggers', async () => {
    const { schemas, store } = await open();
    committed(await push(store, ALICE, randomUUID(), 1, [todo.list()]));
    await expect(raw(schemas, 'TRUNCATE todos, lists')).rejects.toThrow(/TRUNCATE .* not captured/);
    expect((await readSnapshot(store, ALICE)).rows).toHaveLength(1);
  });

  it('answers 422 for text PostgreSQL cannot store, and commits nothing', async () => {
    const { store } = await open();
    const outcome = await push(store, ALICE, randomUUID(), 1, [
      todo.list(undefined, 'nul \u0000 inside'),
      todo.list(undefined, 'lone \ud800 surrogate'),
      todo.list(undefined, 'fine 😀'),
    ]);
    expect(outcome).toMatchObject({
      kind: 'rejected',
      code: 'validation_failed',
      details: {
        errors: [
          { index: 0, code: 'type_mismatch', column: 'name' },
          { index: 1, code: 'type_mismatch', column: 'name' },
        ],
      },
    });
    expect(await store.lastBundleSeq(ALICE)).toBe(0);
    await expect(
      store.write(ALICE, (tx) => tx.upsert('lists', { id: randomUUID(), name: 'a\u0000b' })),
    ).rejects.toMatchObject({ code: 'validation_failed' });
  });

  it('writes through server.write with raw SQL on several users’ rows as one bundle each, and rolls back on error', async () => {
    const { store, schemas } = await open();
    const aliceList = randomUUID();
    const bobList = randomUUID();
    const result = await store.write(ALICE, async (tx) => {
      await tx.upsert('lists', { id: aliceList, name: 'mine' });
      await tx.execute(
        `INSERT INTO "${schemas.business}".lists (id, owner_id, name) VALUES ($1, 'bob', 'for bob')`,
        [bobList],
      );
      expect(await tx.get('lists', bobList)).toBeUndefined();
      await expect(tx.delete('lists', bobList)).rejects.toMatchObject({ code: 'forbidden' });
      return (await tx.query('SELECT count(*)::int AS n FROM lists'))[0]!.n;
    });
    expect(result.value).toBe(2);
    expect(result.bundles).toEqual([
      { userId: ALICE, bundleSeq: 1, rowCount: 1, origin: 'backend' },
      { userId: BOB, bundleSeq: 1, rowCount: 1, origin: 'backend' },
    ]);
    await expect(
      store.write(ALICE, async (tx) => {
        await tx.upsert('lists', { id: randomUUID(), name: 'never' });
        await tx.execute('SELECT no_such_function()');
      }),
    ).rejects.toThrow(/no_such_function/);
    expect(await store.lastBundleSeq(ALICE)).toBe(1);
  });

  it('prunes in small batches while pushes go on, keeping every source’s answer for replays', async () => {
    const { store, schemas } = await open({ pruneBatchBundles: 3 });
    const sources = [randomUUID(), randomUUID()];
    const answers = new Map<string, string>();
    const pushed = new Map<string, Change[]>();
    for (let i = 1; i <= 10; i++) {
      for (const source of sources) {
        const changes = [todo.list()];
        pushed.set(`${source}/${i}`, changes);
        const outcome = await push(store, ALICE, source, i, changes, new Date(i * 1_000));
        if (outcome.kind === 'committed') answers.set(`${source}/${i}`, outcome.responseJson);
      }
    }
    const pushing = (async () => {
      for (let i = 11; i <= 20; i++) {
        committed(await push(store, ALICE, sources[0]!, i, [todo.list()]));
      }
    })();
    const pruned = await store.prune({ maxBundlesPerUser: 4 }, new Date(100_000));
    await pushing;
    expect(pruned.bundlesDeleted).toBeGreaterThanOrEqual(16);
    const replay = await push(store, ALICE, sources[1]!, 10, pushed.get(`${sources[1]}/10`)!);
    expect(replay.kind === 'committed' && replay.responseJson).toBe(
      answers.get(`${sources[1]}/10`),
    );
    const last = await store.lastBundleSeq(ALICE);
    expect(last).toBe(30);
    expect(await store.pull({ userId: ALICE, after: 0, limit: 100 })).toMatchObject({
      kind: 'rejected',
      code: 'history_pruned',
    });
    // Once the pushes are done, the next run prunes through 30 - 4.
    await store.prune({ maxBundlesPerUser: 4 }, new Date(100_000));
    expect(await store.pull({ userId: ALICE, after: 25, limit: 100 })).toMatchObject({
      code: 'history_pruned',
    });
    const remaining = await store.pull({ userId: ALICE, after: 26, limit: 100 });
    expect(remaining.kind === 'page' && remaining.page.bundles.map((b) => b.bundleSeq)).toEqual([
      27, 28, 29, 30,
    ]);
    const left = await adminQuery(`SELECT count(*)::int AS n FROM "${schemas.meta}".bundles`);
    expect(left).toEqual([{ n: 4 }]);
  });

  it('streams a snapshot in batches from one consistent read while commits go on', async () => {
    const { store } = await open({ snapshotBatchRows: 2 });
    const list = todo.list();
    const items = Array.from({ length: 5 }, () => todo.item(list.pk as string));
    committed(await push(store, ALICE, randomUUID(), 1, [list, ...items]));
    const reader = await store.snapshot(ALICE);
    try {
      committed(await push(store, ALICE, randomUUID(), 1, [todo.list()]));
      committed(
        await push(store, ALICE, randomUUID(), 1, [
          todo.remove('todos', items[0]!.pk as string, 1),
        ]),
      );
      const batches: number[] = [];
      const tables: string[] = [];
      for await (const batch of reader.rows()) {
        batches.push(batch.length);
        tables.push(...batch.map((r) => r.table));
      }
      expect(reader.snapshotBundleSeq).toBe(1);
      expect(tables).toEqual(['lists', 'todos', 'todos', 'todos', 'todos', 'todos']);
      expect(batches).toEqual([1, 2, 2, 1]);
    } finally {
      await reader.close();
    }
    const after = await readSnapshot(store, ALICE);
    expect(after.snapshotBundleSeq).toBe(3);
    expect(after.rows).toHaveLength(6);
  });

  it('answers store_unavailable while the database is unreachable, then recovers by itself', async () => {
    const proxy = await startTcpProxy(hostPortOf(DATABASE_URL));
    cleanups.push(() => proxy.close());
    const { store, schemas } = await open({
      connectionString: throughPort(DATABASE_URL, proxy.port),
      pingTimeoutMs: 1_000,
      pool: { max: 4, connectionTimeoutMillis: 1_000 },
    });
    const heard: string[] = [];
    store.onCommit((bundles) => heard.push(...bundles.map((b) => `${b.userId}:${b.bundleSeq}`)));
    const source = randomUUID();
    committed(await push(store, ALICE, source, 1, [todo.list()]));
    await store.ping();

    proxy.cut();
    await expect(store.ping()).rejects.toMatchObject({ code: 'store_unavailable' });
    await expect(push(store, ALICE, source, 2, [todo.list()])).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    await expect(store.pull({ userId: ALICE, after: 0, limit: 10 })).rejects.toMatchObject({
      code: 'store_unavailable',
    });
    await expect(store.snapshot(ALICE)).rejects.toMatchObject({ code: 'store_unavailable' });

    proxy.restore();
    await store.ping();
    committed(await push(store, ALICE, source, 2, [todo.list()]));
    // The listener came back and LISTENs again: a raw write by someone else is heard.
    await waitFor(async () => {
      await raw(schemas, `INSERT INTO lists (id, owner_id, name) VALUES ($1, 'bob', 'after')`, [
        randomUUID(),
      ]);
      await store.drainExternal();
      return heard.some((h) => h.startsWith('bob:'));
    });
  });

  it('recovers when the database terminates every one of its connections', async () => {
    const { store, schemas } = await open();
    const heard: string[] = [];
    store.onCommit((bundles) => heard.push(...bundles.map((b) => `${b.userId}:${b.bundleSeq}`)));
    const source = randomUUID();
    committed(await push(store, ALICE, source, 1, [todo.list()]));
    const killed = await adminQuery(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity WHERE application_name IN ($1, $2)`,
      [`ferry:${schemas.meta}`, `ferry-listen:${schemas.meta}`],
    );
    expect(killed[0]!.n).toBeGreaterThanOrEqual(2);
    // Dead pooled connections are dropped; the next requests work on fresh ones.
    committed(await push(store, ALICE, source, 2, [todo.list()]));
    expect(await store.lastBundleSeq(ALICE)).toBe(2);
    await waitFor(async () => {
      await raw(schemas, `INSERT INTO lists (id, owner_id, name) VALUES ($1, 'bob', 'x')`, [
        randomUUID(),
      ]);
      await store.drainExternal();
      return heard.some((h) => h.startsWith('bob:'));
    });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** `n` plain pg connections to the test database (each a server instance's migrating one). */
async function connectedClients(n: number): Promise<pg.Client[]> {
  return Promise.all(
    Array.from({ length: n }, async () => {
      const client = new pg.Client(pgClientConfig());
      client.on('error', () => undefined);
      await client.connect();
      return client;
    }),
  );
}

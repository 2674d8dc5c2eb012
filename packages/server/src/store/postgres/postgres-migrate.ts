import { randomUUID } from 'node:crypto';
import {
  FerryError,
  asSchemaHistory,
  type Schema,
  type SchemaHistory,
  type VersionMigration,
} from '@ferry/protocol';
import { storedVersionOrThrow } from '../../core/stored-schema.js';
import type { StoreMigrationPlan } from '../server-store.js';
import {
  LOCK_TIMEOUT_MS,
  inTransaction,
  retryingLockWaits,
  takeAdvisoryLock,
  type MigrationClient,
} from './migration-client.js';
import {
  adoptRows,
  assertAdoptable,
  type AdoptReport,
  type AdoptRowsOptions,
} from './postgres-adopt.js';
import {
  businessTablesDdl,
  captureDdl,
  ddlHash,
  metadataMigrations,
  postgresMigrationSql,
  quoteIdent,
  quoteLiteral,
  schemaVersionDefaultSql,
  type PgNames,
} from './postgres-ddl.js';

export type { MigrationClient } from './migration-client.js';

/**
 * Creates or upgrades the store's database objects, once, even when several server instances
 * start at the same time:
 *
 * 1. Without locking, checks whether everything is current (the common case for a restart).
 * 2. Otherwise, under a session advisory lock keyed by the metadata schema (a second instance
 *    waits on it, then finds nothing left to do):
 *    a. in one transaction: applies the metadata migrations not yet recorded in `migrations`;
 *       creates the business tables of the newest schema on first use (refusing a database
 *       made for a schema that is no version of the history, or for a newer version than the
 *       code knows); gives the database its identity (`server_id` in `meta`, made by
 *       `createServerId`) when it has none;
 *    b. migrates the business tables one version at a time, one transaction per version
 *       ({@link postgresMigrationSql}): the capture of the new version is installed before its
 *       custom SQL, so the rows that SQL writes commit as bundles with no source; the version
 *       is recorded in `schema_versions` and `meta` in the same transaction;
 *    c. (re)installs the capture triggers and functions when their text changed.
 *
 * With `adopt` (the business tables exist already, made by other code), 2a checks them instead
 * of creating them ({@link assertAdoptable}: on a mismatch it throws before anything is
 * written, and the transaction rolls back) and marks the database `adopting` in `meta`; after
 * 2c, which then waits for its locks with a short lock timeout, {@link adoptRows} gives the
 * existing rows their sync state and the mark goes. A database still marked (an interrupted
 * adoption) is refused without `adopt`, and finished with it.
 *
 * Every instance returns the one `serverId` the database keeps.
 */
export async function migrate(
  client: MigrationClient,
  schemaOrHistory: Schema | SchemaHistory,
  names: PgNames,
  createServerId: () => string = randomUUID,
  adopt?: AdoptRowsOptions,
): Promise<{
  applied: number[];
  createdTables: boolean;
  installedCapture: boolean;
  serverId: string;
  /** The schema versions this call migrated the business tables to, in order. */
  migratedTo: number[];
  /** What adoption did, when this call adopted (or finished adopting) existing tables. */
  adopted?: AdoptReport;
}> {
  const history = asSchemaHistory(schemaOrHistory);
  const schema = history.latest;
  const migrations = metadataMigrations(names);
  const latest = migrations.at(-1)!.version;
  const capture = captureDdl(schema, names);
  const captureHash = ddlHash(capture);
  const { m, b } = names;

  const current = await readState(client, names);
  const currentId = current?.meta.get('server_id');
  if (
    current !== undefined &&
    currentId !== undefined &&
    current.version === latest &&
    current.meta.get('schema_fingerprint') === schema.fingerprint &&
    current.meta.get('business_schema') === names.business &&
    current.meta.get('capture_hash') === captureHash &&
    !current.meta.has('adopting')
  ) {
    return {
      applied: [],
      createdTables: false,
      installedCapture: false,
      serverId: currentId,
      migratedTo: [],
    };
  }

  const lockKey = `ferry:migrate:${names.meta}`;
  await takeAdvisoryLock(client, lockKey);
  try {
    const put = (key: string, value: string) =>
      client.query(
        `INSERT INTO ${m}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [key, value],
      );
    const record = async (version: Schema, how: 'created' | 'migrated' | 'adopted') => {
      await put('schema_fingerprint', version.fingerprint);
      await put('schema_version', String(version.version));
      await client.query(
        `INSERT INTO ${m}.schema_versions (version, fingerprint, how) VALUES ($1, $2, $3) ON CONFLICT (version) DO UPDATE SET fingerprint = excluded.fingerprint, how = excluded.how, applied_at = now()`,
        [version.version, version.fingerprint, how],
      );
    };
    const { applied, createdTables, serverId, at } = await inTransaction(client, async () => {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${m}`);
      await client.query(`CREATE TABLE IF NOT EXISTS ${m}.migrations (
  version integer PRIMARY KEY,
  name text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`);
      const done = new Set(
        (await client.query(`SELECT version FROM ${m}.migrations`)).rows.map((r) =>
          Number(r.version),
        ),
      );
      const applied: number[] = [];
      for (const migration of migrations) {
        if (done.has(migration.version)) continue;
        await client.query(migration.sql);
        await client.query(`INSERT INTO ${m}.migrations (version, name) VALUES ($1, $2)`, [
          migration.version,
          migration.name,
        ]);
        applied.push(migration.version);
      }

      const meta = await readMeta(client, names);
      let createdTables = false;
      const stored = meta.get('schema_fingerprint');
      let at: Schema;
      if (stored === undefined && adopt !== undefined) {
        // Reads only; a mismatch rolls back the metadata schema made above.
        await assertAdoptable(client, schema, names);
        await put('adopting', 'rows');
        await client.query(schemaVersionDefaultSql(names, schema.version));
        await put('business_schema', names.business);
        await record(schema, 'adopted');
        at = schema;
      } else if (stored === undefined) {
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${b}`);
        try {
          await client.query(businessTablesDdl(schema, names));
        } catch (error) {
          if ((error as { code?: unknown }).code === '42P07') {
            throw new FerryError(
              'invalid_schema',
              `${(error as Error).message} in schema ${quoteLiteral(names.business)}, but the Ferry metadata schema ${quoteLiteral(names.meta)} has no record of it: to sync tables that other code created, adopt them (ferry serve --adopt, or the PostgreSQL store's option adopt: true); else use an empty schema`,
              { cause: error },
            );
          }
          throw error;
        }
        await client.query(schemaVersionDefaultSql(names, schema.version));
        await put('business_schema', names.business);
        await record(schema, 'created');
        createdTables = true;
        at = schema;
      } else {
        if (meta.has('adopting') && adopt === undefined) {
          throw new FerryError(
            'invalid_schema',
            `the adoption of the existing tables in schema ${quoteLiteral(names.business)} did not finish: start again with adoption on (ferry serve --adopt, or the PostgreSQL store's option adopt: true) to finish it`,
          );
        }
        // Finishing an adoption: the tables may have changed since it began.
        if (meta.has('adopting')) await assertAdoptable(client, schema, names);
        const known = storedVersionOrThrow(
          { fingerprint: stored, version: meta.get('schema_version') },
          history,
          databaseName(names),
        )!;
        if (meta.get('business_schema') !== names.business) {
          throw new FerryError(
            'invalid_schema',
            `the Ferry metadata in ${quoteLiteral(names.meta)} belongs to the tables in schema ${quoteLiteral(meta.get('business_schema') ?? '?')}, not ${quoteLiteral(names.business)}`,
          );
        }
        if (known === schema) await client.query(schemaVersionDefaultSql(names, schema.version));
        at = known;
      }
      // Created once, with the data (or with the upgrade of data from before identities), and
      // never changed: it is what tells this database's history from any other's.
      let serverId = meta.get('server_id');
      if (serverId === undefined) {
        serverId = createServerId();
        await put('server_id', serverId);
      }
      return { applied, createdTables, serverId, at };
    });

    const migratedTo: number[] = [];
    for (const migration of history.migrations(at.version)) {
      await migrateVersion(client, migration, names, put, record);
      migratedTo.push(migration.to.version);
    }

    let installedCapture = false;
    const meta = await readMeta(client, names);
    const adopting = meta.has('adopting');
    if (meta.get('capture_hash') !== captureHash) {
      const install = () =>
        inTransaction(client, async () => {
          // Tables in use: wait for their locks briefly, and again, rather than queue every
          // other writer behind this DDL while it waits for a long transaction.
          if (adopting) await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
          await client.query(capture);
          await put('capture_hash', captureHash);
        });
      await (adopting ? retryingLockWaits(install) : install());
      installedCapture = true;
    }
    if (!adopting) return { applied, createdTables, installedCapture, serverId, migratedTo };
    const adopted = await adoptRows(client, schema, names, adopt);
    await client.query(`DELETE FROM ${m}.meta WHERE key = 'adopting'`);
    return { applied, createdTables, installedCapture, serverId, migratedTo, adopted };
  } finally {
    await client
      .query('SELECT pg_advisory_unlock(hashtextextended($1, 0))', [lockKey])
      .catch(() => undefined);
  }
}

/**
 * What {@link migrate} would do to the business tables, without doing it: the version the
 * database holds (null: none yet) and each pending version's steps and SQL (the capture
 * functions, re-installed before each version's custom SQL, are left out).
 */
export async function planPostgresMigrations(
  client: MigrationClient,
  history: SchemaHistory,
  names: PgNames,
): Promise<StoreMigrationPlan> {
  const to = history.latest.version;
  const state = await readState(client, names);
  const fingerprint = state?.meta.get('schema_fingerprint');
  if (state === undefined || fingerprint === undefined) return { from: null, to, migrations: [] };
  const at = storedVersionOrThrow(
    { fingerprint, version: state.meta.get('schema_version') },
    history,
    databaseName(names),
  )!;
  return {
    from: at.version,
    to,
    migrations: history.migrations(at.version).map((migration) => {
      const { before, custom, after } = postgresMigrationSql(migration, names);
      return {
        version: migration.to.version,
        steps: migration.steps,
        sql: [...before, ...custom, ...after],
      };
    }),
  };
}

/**
 * One version, in three transactions ({@link postgresMigrationSql}), so that pushes served
 * meanwhile by other instances keep committing while the version's custom SQL runs:
 *
 * 1. the structure: every lock it needs taken first, in one statement with a short lock timeout
 *    (pushes lock the same tables in their own order; when it cannot have them all soon, or
 *    PostgreSQL picks it as a deadlock victim, the transaction, which then changed nothing, runs
 *    again), the added and changed tables and columns, and the capture of the new version;
 * 2. the custom SQL, with row locks only: its rows are captured and commit as bundles;
 * 3. the drops and indexes under their locks, and the version recorded.
 *
 * `meta.migrating` says which of them committed (`<version>:structure`, `<version>:custom`), so
 * a start after a crash between them goes on from there. The custom SQL runs again only if the
 * crash came while it ran, when its transaction rolled back.
 */
async function migrateVersion(
  client: MigrationClient,
  migration: VersionMigration,
  names: PgNames,
  put: (key: string, value: string) => Promise<unknown>,
  record: (version: Schema, how: 'created' | 'migrated' | 'adopted') => Promise<unknown>,
): Promise<void> {
  const { m, b } = names;
  const version = migration.to.version;
  const { before, custom, after } = postgresMigrationSql(migration, names);
  const capture = captureDdl(migration.to, names);
  const phase = async () => (await readMeta(client, names)).get('migrating');
  const lockAll = async (tables: readonly string[]) => {
    await client.query(`SET LOCAL lock_timeout = '${LOCK_TIMEOUT_MS}ms'`);
    await client.query(`LOCK TABLE ${tables.join(', ')} IN ACCESS EXCLUSIVE MODE`);
    await client.query('SET LOCAL lock_timeout = 0');
  };
  const table = (name: string) => `${b}.${quoteIdent(name)}`;
  if ((await phase()) !== `${version}:structure` && (await phase()) !== `${version}:custom`) {
    await retryingLockWaits(() =>
      inTransaction(client, async () => {
        await lockAll([
          `${m}.tx_seal`,
          `${m}.tx_rows`,
          `${m}.bundles`,
          ...migration.from.tables.map((t) => table(t.name)),
        ]);
        for (const sql of before) await client.query(sql);
        await client.query(capture);
        await put('capture_hash', ddlHash(capture));
        await put('migrating', `${version}:structure`);
      }),
    );
  }
  if ((await phase()) === `${version}:structure`) {
    // Resumed after older code ran on the database meanwhile: its capture is the old version's.
    if ((await readMeta(client, names)).get('capture_hash') !== ddlHash(capture)) {
      await retryingLockWaits(() =>
        inTransaction(client, async () => {
          await lockAll([`${m}.tx_seal`, `${m}.tx_rows`]);
          await client.query(capture);
          await put('capture_hash', ddlHash(capture));
        }),
      );
    }
    await retryingLockWaits(() =>
      inTransaction(client, async () => {
        for (const sql of custom) await client.query(sql);
        await put('migrating', `${version}:custom`);
      }),
    );
  }
  const dropped = migration.steps.flatMap((s) => (s.kind === 'drop-table' ? [s.table] : []));
  await retryingLockWaits(() =>
    inTransaction(client, async () => {
      await lockAll([...migration.to.tables.map((t) => table(t.name)), ...dropped.map(table)]);
      for (const sql of after) await client.query(sql);
      await client.query(`DELETE FROM ${m}.meta WHERE key = 'migrating'`);
      await record(migration.to, 'migrated');
    }),
  );
}

/** How errors name a PostgreSQL store's database. */
function databaseName(names: PgNames): string {
  return `the database (metadata schema ${quoteLiteral(names.meta)})`;
}

async function readState(
  client: MigrationClient,
  names: PgNames,
): Promise<{ version: number; meta: Map<string, string> } | undefined> {
  const { rows } = await client.query(
    'SELECT to_regclass($1) IS NOT NULL AS migrations, to_regclass($2) IS NOT NULL AS meta',
    [`${names.m}.migrations`, `${names.m}.meta`],
  );
  if (!rows[0]?.migrations || !rows[0].meta) return undefined;
  const version = await client.query(`SELECT max(version) AS version FROM ${names.m}.migrations`);
  return { version: Number(version.rows[0]?.version ?? 0), meta: await readMeta(client, names) };
}

async function readMeta(client: MigrationClient, names: PgNames): Promise<Map<string, string>> {
  const { rows } = await client.query(`SELECT key, value FROM ${names.m}.meta`);
  return new Map(rows.map((r) => [String(r.key), String(r.value)]));
}

import { randomUUID } from 'node:crypto';
import { FerryError, type Schema } from '@ferry/protocol';
import {
  businessTablesDdl,
  captureDdl,
  ddlHash,
  metadataMigrations,
  quoteLiteral,
  type PgNames,
} from './postgres-ddl.js';

/** The part of a pg client that migrations need. */
export interface MigrationClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/**
 * Creates or upgrades the store's database objects, once, even when several server instances
 * start at the same time:
 *
 * 1. Without locking, checks whether everything is current (the common case for a restart).
 * 2. Otherwise, in one transaction under a transaction-scoped advisory lock keyed by the
 *    metadata schema: applies the metadata migrations not yet recorded in `migrations`, in
 *    order; creates the business tables on first use (refusing a database made for another
 *    schema); gives the database its identity (`server_id` in `meta`, made by `createServerId`)
 *    when it has none; and (re)installs the capture triggers and functions when their text
 *    changed.
 *
 * A second instance waits on the lock, then finds nothing left to do. Every instance returns
 * the one `serverId` the database keeps.
 */
export async function migrate(
  client: MigrationClient,
  schema: Schema,
  names: PgNames,
  createServerId: () => string = randomUUID,
): Promise<{
  applied: number[];
  createdTables: boolean;
  installedCapture: boolean;
  serverId: string;
}> {
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
    current.meta.get('capture_hash') === captureHash
  ) {
    return { applied: [], createdTables: false, installedCapture: false, serverId: currentId };
  }

  await client.query('BEGIN');
  try {
    await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [
      `ferry:migrate:${names.meta}`,
    ]);
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
    const put = (key: string, value: string) =>
      client.query(
        `INSERT INTO ${m}.meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value`,
        [key, value],
      );
    let createdTables = false;
    const stored = meta.get('schema_fingerprint');
    if (stored === undefined) {
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${b}`);
      try {
        await client.query(businessTablesDdl(schema, names));
      } catch (error) {
        if ((error as { code?: unknown }).code === '42P07') {
          throw new FerryError(
            'invalid_schema',
            `${(error as Error).message} in schema ${quoteLiteral(names.business)}, but the Ferry metadata schema ${quoteLiteral(names.meta)} has no record of it: Ferry creates its business tables itself; use an empty schema`,
            { cause: error },
          );
        }
        throw error;
      }
      await put('schema_fingerprint', schema.fingerprint);
      await put('business_schema', names.business);
      createdTables = true;
    } else if (stored !== schema.fingerprint) {
      throw new FerryError(
        'invalid_schema',
        `the database was set up for a different schema (fingerprint ${stored}, now ${schema.fingerprint}); schema migrations are not supported yet: use a new database or metadata schema`,
      );
    } else if (meta.get('business_schema') !== names.business) {
      throw new FerryError(
        'invalid_schema',
        `the Ferry metadata in ${quoteLiteral(names.meta)} belongs to the tables in schema ${quoteLiteral(meta.get('business_schema') ?? '?')}, not ${quoteLiteral(names.business)}`,
      );
    }
    // Created once, with the data (or with the upgrade of data from before identities), and
    // never changed: it is what tells this database's history from any other's.
    let serverId = meta.get('server_id');
    if (serverId === undefined) {
      serverId = createServerId();
      await put('server_id', serverId);
    }
    let installedCapture = false;
    if (meta.get('capture_hash') !== captureHash) {
      await client.query(capture);
      await put('capture_hash', captureHash);
      installedCapture = true;
    }
    await client.query('COMMIT');
    return { applied, createdTables, installedCapture, serverId };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
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

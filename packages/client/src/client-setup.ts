import { FerryError, SourceIdSchema, declaredIndexesSql, type Schema } from '@ferry/protocol';
import type { SerialDatabase, TransactionExecutor } from './driver/serial-database.js';
import type { SetupResult } from './client-parts.js';
import {
  METADATA_FORMAT,
  METADATA_SQL,
  captureTriggersSql,
  columnSql,
  createTableSql,
  dropCaptureTriggersSql,
  quoteIdent,
  referenceIndexSql,
  TEMP_TABLES_SQL,
} from './local/local-schema-sql.js';
import { readSchemaState, readState, upgradeBundleTable, writeState } from './local/metadata.js';
import { migrateLocalFile, needsRebuild } from './local/migrate-local.js';
import type { ClientOptions } from './types.js';

/**
 * Sets up the local file for `options.schema`, idempotently: the metadata tables, the synced
 * tables, their reference indexes and capture triggers, and the source id (chosen once per
 * install). A changed schema (another fingerprint) adds missing tables and columns, re-creates
 * the triggers and marks the file for a fresh hydration. Refuses a file of another metadata
 * format, and a `sourceId` option that is neither the file's source id nor the one it started
 * with (Ferry rotates the source id when it finds another install using it, or the server
 * ahead of the file: see `rotateSource`).
 */
export async function setUpDatabase(
  db: SerialDatabase,
  options: Pick<ClientOptions, 'schema' | 'sourceId' | 'history' | 'hooks'>,
): Promise<SetupResult> {
  const schema = options.schema;
  const history = options.history;
  if (history !== undefined && history.latest.fingerprint !== schema.fingerprint) {
    throw new FerryError(
      'invalid_argument',
      `history's newest version (${history.latest.version}) is not the schema the client runs (version ${schema.version})`,
    );
  }
  await db.exec(METADATA_SQL);
  await db.exec(TEMP_TABLES_SQL);
  // The version the file holds, when the history knows it: its tables are migrated, not rebuilt.
  const stored = await readSchemaState(db);
  const storedVersion = stored.version ?? 0;
  if (storedVersion > schema.version) {
    throw new FerryError(
      'not_supported',
      `this database was written by a newer version of the app (schema version ${storedVersion}; this one runs ${schema.version})`,
    );
  }
  const from =
    stored.fingerprint !== null && stored.fingerprint !== schema.fingerprint
      ? history?.withFingerprint(stored.fingerprint)
      : undefined;
  const migrating = history !== undefined && from !== undefined && from.version < schema.version;
  const foreignKeysOff = migrating && needsRebuild(history, from.version);
  return db.transaction(
    async (tx) => {
      const format = await readState(tx, 'format');
      if (format !== null && format !== METADATA_FORMAT) {
        throw new FerryError(
          'not_supported',
          `this database was written by a Ferry client with metadata format ${JSON.stringify(format)}`,
        );
      }
      await writeState(tx, 'format', METADATA_FORMAT);
      const fingerprint = await readState(tx, 'schema_fingerprint');
      const changed = fingerprint !== null && fingerprint !== schema.fingerprint;
      if (migrating) {
        await migrateLocalFile(tx, history, from.version, () =>
          options.hooks?.at?.('during-local-migration'),
        );
      }
      for (const table of schema.tables) {
        await tx.exec(createTableSql(table));
        if (changed) await addMissingColumns(tx, table.name, schema);
        for (const sql of referenceIndexSql(table)) await tx.exec(sql);
        for (const sql of declaredIndexesSql(table)) await tx.exec(sql);
        if (changed) for (const sql of dropCaptureTriggersSql(table.name)) await tx.exec(sql);
        for (const sql of captureTriggersSql(table)) await tx.exec(sql);
      }
      if (fingerprint !== schema.fingerprint) {
        await writeState(tx, 'schema_fingerprint', schema.fingerprint);
        await writeState(tx, 'schema_version', schema.version);
        // A changed schema may have changed what the server holds (new columns' values, new
        // tables' rows): fetch it from a snapshot; pending changes, conflicts and dead letters stay.
        if (changed) await writeState(tx, 'needs_hydration', 1);
      }
      let sourceId = (await readState(tx, 'source_id')) as string | null;
      if (options.sourceId !== undefined) {
        if (!SourceIdSchema.safeParse(options.sourceId).success) {
          throw new FerryError('invalid_argument', 'sourceId must be a UUID');
        }
        const wanted = options.sourceId.toLowerCase();
        const first = (await readState(tx, 'first_source_id')) as string | null;
        if (sourceId !== null && sourceId !== wanted && first !== wanted) {
          throw new FerryError(
            'invalid_argument',
            `this database already belongs to source ${sourceId}; a source id is chosen once per install`,
          );
        }
        sourceId ??= wanted;
      }
      sourceId ??= globalThis.crypto.randomUUID();
      await writeState(tx, 'source_id', sourceId);
      if ((await readState(tx, 'first_source_id')) === null) {
        await writeState(tx, 'first_source_id', sourceId);
      }
      await upgradeBundleTable(tx, sourceId);
      if ((await readState(tx, 'next_source_bundle_id')) === null) {
        await writeState(tx, 'next_source_bundle_id', 1);
      }
      return { sourceId, userId: (await readState(tx, 'user_id')) as string | null };
    },
    { foreignKeysOff },
  );
}

/**
 * Adds the schema's columns that an existing table lacks. SQLite cannot add a NOT NULL column
 * without a default, nor a primary key, so added columns are nullable.
 */
export async function addMissingColumns(
  tx: TransactionExecutor,
  tableName: string,
  schema: Schema,
): Promise<void> {
  const table = schema.requireTable(tableName);
  const existing = await tx.all<{ name: string }>(`PRAGMA table_info(${quoteIdent(tableName)})`);
  const names = new Set(existing.map((c) => c.name));
  for (const column of table.columns) {
    if (names.has(column.name)) continue;
    const definition = columnSql(table, column.name).replace(' NOT NULL', '');
    await tx.exec(`ALTER TABLE ${quoteIdent(tableName)} ADD COLUMN ${definition}`);
  }
}

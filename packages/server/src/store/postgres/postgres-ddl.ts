import { createHash } from 'node:crypto';
import {
  FerryError,
  type Column,
  type ColumnType,
  type JsonValue,
  type Reference,
  type Schema,
  type Table,
  type VersionMigration,
} from '@ferry/protocol';

/**
 * Names the PostgreSQL store works with: the schema of the sync metadata, the schema of the
 * business tables, and the names derived from them (notification channel, transaction-local
 * settings). Every name that goes into SQL is already quoted where it must be.
 */
export interface PgNames {
  /** The metadata schema, unquoted (`ferry`). */
  readonly meta: string;
  /** The metadata schema, quoted (`"ferry"`). */
  readonly m: string;
  /** The business schema, unquoted (`public`). */
  readonly business: string;
  /** The business schema, quoted. */
  readonly b: string;
  /** LISTEN/NOTIFY channel of committed bundles. */
  readonly channel: string;
  /** Transaction-local setting that says "a seal is queued for this transaction". */
  readonly sealQueuedSetting: string;
}

/** Transaction-local setting holding the commit time of server-derived columns. */
export const NOW_SETTING = 'ferry.now';

/** A metadata schema name: lower-case identifier characters, short enough for derived names. */
export const META_SCHEMA_PATTERN = /^[a-z_][a-z0-9_]{0,39}$/;

/** Builds the {@link PgNames} of a metadata schema and a business schema. */
export function pgNames(meta: string, business: string): PgNames {
  return {
    meta,
    m: quoteIdent(meta),
    business,
    b: quoteIdent(business),
    channel: `${meta}_commits`,
    sealQueuedSetting: `ferry.sealq_${meta}`,
  };
}

/** Quotes an SQL identifier. */
export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** An SQL string literal. */
export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

/** The PostgreSQL type of a Ferry column type. */
export function pgTypeOf(type: ColumnType): string {
  switch (type) {
    case 'text':
      return 'text';
    case 'uuid':
      return 'uuid';
    case 'integer':
      return 'bigint';
    case 'real':
      return 'double precision';
    case 'boolean':
      return 'boolean';
    case 'timestamp':
      return 'timestamptz';
    case 'json':
      return 'jsonb';
  }
}

/** One step of the metadata layout; applied once, in order, recorded in `migrations`. */
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

/**
 * The versioned migrations of the metadata schema. Append new steps; never edit an applied one.
 *
 * 1. Sync state per user (the row whose lock orders a user's commits), per-row versions and
 *    tombstones, committed bundles with their row effects as JSON text, per-source idempotency,
 *    and the two unlogged working tables of the capture triggers (rows exist only inside the
 *    writing transaction, so they need no WAL and survive no crash).
 * 2. History tokens and bundle digests: `bundles.token` / `digest`, `users.last_token` /
 *    `pruned_token`, `sources.digest` (null for everything committed before). The database's
 *    `server_id` goes into `meta` with it (see `migrate`).
 * 3. Schema versions: `bundles.schema_version` (the version of the app schema a bundle's rows
 *    are in; null for bundles from before versions) and `schema_versions`, the versions the
 *    database went through.
 * 4. An index of tombstones by owner and version, for purging them with pruned history.
 */
export function metadataMigrations(names: PgNames): readonly Migration[] {
  const { m } = names;
  return [
    {
      version: 1,
      name: 'sync metadata',
      sql: `
CREATE TABLE ${m}.meta (
  key text PRIMARY KEY,
  value text NOT NULL
);
CREATE TABLE ${m}.users (
  user_id text PRIMARY KEY,
  last_seq bigint NOT NULL DEFAULT 0,
  pruned_through bigint NOT NULL DEFAULT 0
);
CREATE TABLE ${m}.rows (
  table_name text NOT NULL,
  pk text NOT NULL,
  owner text NOT NULL,
  row_version bigint NOT NULL,
  deleted boolean NOT NULL,
  PRIMARY KEY (table_name, pk)
);
CREATE TABLE ${m}.bundles (
  user_id text NOT NULL,
  bundle_seq bigint NOT NULL,
  source_id text,
  source_bundle_id bigint,
  row_count integer NOT NULL,
  rows text NOT NULL,
  committed_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, bundle_seq)
);
CREATE TABLE ${m}.sources (
  user_id text NOT NULL,
  source_id text NOT NULL,
  last_committed bigint NOT NULL,
  bundle_seq bigint NOT NULL,
  response text,
  PRIMARY KEY (user_id, source_id)
);
CREATE UNLOGGED TABLE ${m}.tx_rows (
  tx xid8 NOT NULL,
  table_name text NOT NULL,
  pk text NOT NULL,
  ord bigint NOT NULL,
  rank integer NOT NULL,
  pk_json text NOT NULL,
  prev_exists boolean NOT NULL,
  prev_owner text,
  prev_version bigint,
  prev_deleted boolean,
  cur_owner text,
  cur_json text,
  PRIMARY KEY (tx, table_name, pk)
);
CREATE SEQUENCE ${m}.tx_rows_ord;
CREATE UNLOGGED TABLE ${m}.tx_seal (
  tx xid8 PRIMARY KEY
);`,
    },
    {
      version: 2,
      name: 'history tokens and bundle digests',
      sql: `
ALTER TABLE ${m}.users ADD COLUMN last_token text, ADD COLUMN pruned_token text;
ALTER TABLE ${m}.bundles ADD COLUMN token text, ADD COLUMN digest text;
ALTER TABLE ${m}.sources ADD COLUMN digest text;`,
    },
    {
      version: 3,
      name: 'schema versions',
      sql: `
ALTER TABLE ${m}.bundles ADD COLUMN schema_version integer;
CREATE TABLE ${m}.schema_versions (
  version integer PRIMARY KEY,
  fingerprint text NOT NULL,
  how text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
);`,
    },
    {
      version: 4,
      name: 'tombstones by owner',
      sql: `CREATE INDEX rows_tombstones ON ${m}.rows (owner, row_version) WHERE deleted;`,
    },
  ];
}

/**
 * DDL of the business tables of a schema: real columns, NOT NULL, CHECKs for maximum lengths,
 * defaults, primary keys, then every foreign key (added after all tables exist, so a reference
 * cycle needs no particular order). A reference in a cycle is DEFERRABLE INITIALLY DEFERRED;
 * `restrict` becomes NO ACTION (checked at the end of the statement, so one statement may
 * delete a child and its parent in any order). Indexes on the owner and reference columns.
 */
export function businessTablesDdl(schema: Schema, names: PgNames): string {
  const statements = schema.tables.flatMap((table) => tableDdl(table, names));
  for (const table of schema.tables) {
    for (const reference of table.references) statements.push(foreignKeyDdl(reference, names));
  }
  for (const table of schema.tables) statements.push(...declaredIndexesDdl(table, names));
  return statements.join(';\n') + ';';
}

/** One business table: its columns and primary key, and the indexes on its owner and references. */
function tableDdl(table: Table, names: PgNames): string[] {
  const t = `${names.b}.${quoteIdent(table.name)}`;
  const columns = table.columns.map((column) =>
    // Keys the server assigns come from the table's identity sequence, which backend inserts
    // that leave the key out use too.
    table.serverKeys && column.isPrimaryKey && column.type === 'integer'
      ? `${columnDdl(column)} GENERATED BY DEFAULT AS IDENTITY`
      : columnDdl(column),
  );
  columns.push(`PRIMARY KEY (${quoteIdent(table.primaryKey)})`);
  return [
    `CREATE TABLE ${t} (\n  ${columns.join(',\n  ')}\n)`,
    `CREATE INDEX ${quoteIdent(shortName(`${table.name}_${table.owner}_idx`))} ON ${t} (${quoteIdent(table.owner)})`,
    ...table.references.map((reference) => referenceIndexDdl(reference, names)),
  ];
}

function referenceIndexDdl(reference: Reference, names: PgNames): string {
  return `CREATE INDEX IF NOT EXISTS ${quoteIdent(shortName(`${reference.childTable}_${reference.column}_idx`))} ON ${names.b}.${quoteIdent(reference.childTable)} (${quoteIdent(reference.column)})`;
}

function foreignKeyDdl(reference: Reference, names: PgNames): string {
  const { b } = names;
  const action =
    reference.onDelete === 'cascade'
      ? 'CASCADE'
      : reference.onDelete === 'set null'
        ? 'SET NULL'
        : 'NO ACTION';
  const deferred = reference.inCycle ? ' DEFERRABLE INITIALLY DEFERRED' : '';
  return `ALTER TABLE ${b}.${quoteIdent(reference.childTable)} ADD CONSTRAINT ${quoteIdent(shortName(`${reference.childTable}_${reference.column}_fkey`))} FOREIGN KEY (${quoteIdent(reference.column)}) REFERENCES ${b}.${quoteIdent(reference.parentTable)} (${quoteIdent(reference.parentColumn)}) ON DELETE ${action}${deferred}`;
}

/**
 * The indexes Ferry gives a business table it creates, by name: on the owner column, on each
 * reference column, and each declared index. Adopting existing tables builds those missing.
 */
export function businessIndexes(
  table: Table,
): readonly { readonly name: string; readonly columns: readonly string[] }[] {
  return [
    { name: shortName(`${table.name}_${table.owner}_idx`), columns: [table.owner] },
    ...table.references.map((reference) => ({
      name: shortName(`${reference.childTable}_${reference.column}_idx`),
      columns: [reference.column],
    })),
    ...table.indexes.map((index) => ({ name: shortName(index.sqlName), columns: index.columns })),
  ];
}

/** The secondary indexes a table declares. */
export function declaredIndexesDdl(table: Table, names: PgNames): string[] {
  return table.indexes.map(
    (index) =>
      `CREATE INDEX IF NOT EXISTS ${quoteIdent(shortName(index.sqlName))} ON ${names.b}.${quoteIdent(table.name)} (${index.columns.map(quoteIdent).join(', ')})`,
  );
}

/**
 * One version's migration on PostgreSQL, in three parts that run as three transactions:
 * `before` (renames, index drops, added tables and columns, widened columns; the caller then
 * installs {@link captureDdl} of `migration.to`), `custom` (the version's custom SQL, with the
 * business schema first on the search path so it can name tables plainly: it holds row locks
 * only, so pushes of other rows keep committing while it runs), and `after` (dropped columns and
 * tables; added indexes). `before` ends with the schema version new bundles are stamped with,
 * since from then on the capture writes the new version's rows. Throws
 * `invalid_schema` when the migration has custom SQL for SQLite only.
 */
export function postgresMigrationSql(
  migration: VersionMigration,
  names: PgNames,
): {
  readonly before: readonly string[];
  readonly custom: readonly string[];
  readonly after: readonly string[];
} {
  const { from, to, steps } = migration;
  const { m, b } = names;
  const before: string[] = [];
  const custom: string[] = [];
  const after: string[] = [];
  const t = (name: string) => `${b}.${quoteIdent(name)}`;
  for (const step of steps) {
    switch (step.kind) {
      case 'rename-table':
        before.push(
          `ALTER TABLE ${t(step.from)} RENAME TO ${quoteIdent(step.to)}`,
          `UPDATE ${m}.rows SET table_name = ${quoteLiteral(step.to)} WHERE table_name = ${quoteLiteral(step.from)}`,
          `DROP FUNCTION IF EXISTS ${m}.${quoteIdent(`capture__${step.from}`)}()`,
          `DROP FUNCTION IF EXISTS ${m}.${quoteIdent(`derive__${step.from}`)}()`,
        );
        break;
      case 'rename-column':
        before.push(
          `ALTER TABLE ${t(step.table)} RENAME COLUMN ${quoteIdent(step.from)} TO ${quoteIdent(step.to)}`,
        );
        break;
      case 'drop-index':
        before.push(`DROP INDEX IF EXISTS ${b}.${quoteIdent(shortName(step.index))}`);
        break;
      case 'add-table': {
        const table = to.requireTable(step.table);
        before.push(...tableDdl(table, names));
        for (const reference of table.references) before.push(foreignKeyDdl(reference, names));
        break;
      }
      case 'add-column': {
        const table = to.requireTable(step.table);
        const column = table.column(step.column)!;
        before.push(`ALTER TABLE ${t(step.table)} ADD COLUMN ${columnDdl(column)}`);
        if (column.reference) {
          before.push(
            foreignKeyDdl(column.reference, names),
            referenceIndexDdl(column.reference, names),
          );
        }
        break;
      }
      case 'change-column': {
        const column = to.requireTable(step.table).column(step.column)!;
        const c = quoteIdent(step.column);
        if (step.changes.includes('type')) {
          const type = pgTypeOf(column.type);
          before.push(
            `ALTER TABLE ${t(step.table)} ALTER COLUMN ${c} TYPE ${type} USING ${c}::${type}`,
          );
        }
        if (step.changes.includes('nullable')) {
          before.push(`ALTER TABLE ${t(step.table)} ALTER COLUMN ${c} DROP NOT NULL`);
        }
        if (step.changes.includes('length')) {
          before.push(dropChecksSql(names, step.table, step.column));
          if (column.maxLength !== undefined) {
            before.push(
              `ALTER TABLE ${t(step.table)} ADD CHECK (char_length(${c}) <= ${column.maxLength})`,
            );
          }
        }
        if (step.changes.includes('default')) {
          before.push(
            column.default === undefined || column.default === null
              ? `ALTER TABLE ${t(step.table)} ALTER COLUMN ${c} DROP DEFAULT`
              : `ALTER TABLE ${t(step.table)} ALTER COLUMN ${c} SET DEFAULT ${defaultLiteral(column.type, column.default)}`,
          );
        }
        break;
      }
      case 'sql':
        if (step.postgres === undefined) {
          throw new FerryError(
            'invalid_schema',
            `the migration to version ${to.version} has custom SQL for SQLite only; give it for PostgreSQL too (migration.sql.postgres)`,
          );
        }
        custom.push(
          `SELECT set_config('search_path', ${quoteLiteral(`${quoteIdent(names.business)}, public`)}, true)`,
          step.postgres,
        );
        break;
      case 'drop-column':
        after.push(`ALTER TABLE ${t(step.table)} DROP COLUMN ${quoteIdent(step.column)}`);
        break;
      case 'drop-table':
        // Its rows are not sent as deletes: the table leaves the schema, not the user's data.
        after.push(
          `DROP TABLE ${t(step.table)}`,
          `DELETE FROM ${m}.rows WHERE table_name = ${quoteLiteral(step.table)}`,
          `DROP FUNCTION IF EXISTS ${m}.${quoteIdent(`capture__${step.table}`)}()`,
          `DROP FUNCTION IF EXISTS ${m}.${quoteIdent(`derive__${step.table}`)}()`,
        );
        break;
      case 'add-index':
        break;
    }
  }
  for (const table of to.tables) after.push(...declaredIndexesDdl(table, names));
  // From the capture of the new version on, bundles hold its rows.
  before.push(schemaVersionDefaultSql(names, to.version));
  void from;
  return { before, custom, after };
}

/** Stamps the bundles committed from now on with the schema version their rows are in. */
export function schemaVersionDefaultSql(names: PgNames, version: number): string {
  return `ALTER TABLE ${names.m}.bundles ALTER COLUMN schema_version SET DEFAULT ${version}`;
}

/** Drops the CHECK constraints on one column (its old maxLength), whatever they are named. */
function dropChecksSql(names: PgNames, table: string, column: string): string {
  return `DO $checks$ DECLARE c text; BEGIN
  FOR c IN SELECT con.conname FROM pg_constraint con
    JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
    WHERE con.conrelid = ${quoteLiteral(`${quoteIdent(names.business)}.${quoteIdent(table)}`)}::regclass
      AND con.contype = 'c' AND a.attname = ${quoteLiteral(column)} AND array_length(con.conkey, 1) = 1
  LOOP EXECUTE format('ALTER TABLE %s DROP CONSTRAINT %I', ${quoteLiteral(`${quoteIdent(names.business)}.${quoteIdent(table)}`)}, c); END LOOP;
END $checks$`;
}

/**
 * The SQL expression that renders a row of `table` (named by `alias`: `NEW`, `OLD` or a table
 * alias) as its wire JSON text, columns in declaration order. The capture triggers, snapshots
 * and conflict answers all use it, so a row reads the same everywhere.
 */
export function rowJsonSql(table: Table, alias: string): string {
  const parts = table.columns.map((column, index) => {
    const key = `${index === 0 ? '{' : ','}${JSON.stringify(column.name)}:`;
    return `${quoteLiteral(key)} || ${valueJsonSql(column.type, `${alias}.${quoteIdent(column.name)}`)}`;
  });
  return `(${parts.join(' || ')} || '}')`;
}

/** The SQL expression of the primary key of a row as JSON text. */
export function pkJsonSql(table: Table, alias: string): string {
  const column = table.column(table.primaryKey)!;
  return valueJsonSql(column.type, `${alias}.${quoteIdent(column.name)}`);
}

/** The SQL cast of a parameter to a column's type, e.g. `$1::uuid`. */
export function castParam(placeholder: string, type: ColumnType): string {
  return `${placeholder}::${pgTypeOf(type)}`;
}

/**
 * The capture machinery of a schema, regenerated (and replaced) whenever this text changes:
 *
 * - per table, a BEFORE trigger that sets server-derived columns from the transaction's commit
 *   time (`ferry.now` when the server set it, else the transaction's start, to the millisecond),
 *   so raw SQL gets them too;
 * - per table, AFTER INSERT, UPDATE and DELETE statement triggers that record, from the
 *   statement's transition tables, every touched row in `tx_rows` with its sync state from
 *   before the transaction and its current wire JSON (the last statement of a row wins), and
 *   queue one seal per transaction;
 * - a BEFORE TRUNCATE trigger that refuses TRUNCATE (it fires no row triggers);
 * - `seal(...)`: turns the transaction's touched rows into one bundle per affected user, each
 *   with the user's next bundleSeq allocated under the row lock of the user's sync state, held
 *   until commit; writes row versions and tombstones; notifies listeners at commit;
 * - a deferred constraint trigger that runs `seal` at commit for writes that nobody sealed
 *   (raw SQL, cascades after an explicit seal, anything).
 */
export function captureDdl(schema: Schema, names: PgNames): string {
  const { m, b } = names;
  const statements: string[] = [
    // Every earlier version of seal(), whatever its signature, makes way for this one.
    `DO $drop$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
    WHERE p.pronamespace = ${quoteLiteral(names.m)}::regnamespace AND p.proname = 'seal'
  LOOP EXECUTE 'DROP FUNCTION ' || f; END LOOP;
END $drop$`,
    sealFunctionDdl(names),
  ];
  statements.push(`CREATE OR REPLACE FUNCTION ${m}.seal_at_commit() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM ${m}.seal(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
  RETURN NULL;
END
$fn$`);
  statements.push(`DROP TRIGGER IF EXISTS seal_at_commit ON ${m}.tx_seal`);
  statements.push(`CREATE CONSTRAINT TRIGGER seal_at_commit AFTER INSERT ON ${m}.tx_seal
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ${m}.seal_at_commit()`);
  statements.push(`CREATE OR REPLACE FUNCTION ${m}.refuse_truncate() RETURNS trigger
LANGUAGE plpgsql AS $fn$
BEGIN
  RAISE EXCEPTION 'TRUNCATE of %.% is not captured by Ferry; use DELETE so devices see the rows go', TG_TABLE_SCHEMA, TG_TABLE_NAME
    USING ERRCODE = 'feature_not_supported';
END
$fn$`);

  schema.tables.forEach((table, rank) => {
    const t = `${b}.${quoteIdent(table.name)}`;
    const fn = (kind: string) => `${m}.${quoteIdent(functionName(kind, table, rank))}`;
    const trigger = (kind: string) => quoteIdent(`${names.meta}_${kind}`);
    const derived = table.columns.filter((c) => c.serverDerived !== undefined);
    if (derived.length > 0) {
      const assignments = derived.map((column) => {
        const c = quoteIdent(column.name);
        return column.serverDerived === 'commitTime'
          ? `  NEW.${c} := t;`
          : `  IF TG_OP = 'INSERT' THEN NEW.${c} := t; ELSE NEW.${c} := OLD.${c}; END IF;`;
      });
      statements.push(`CREATE OR REPLACE FUNCTION ${fn('derive')}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  t timestamptz := coalesce(nullif(current_setting(${quoteLiteral(NOW_SETTING)}, true), '')::timestamptz, date_trunc('milliseconds', now()));
BEGIN
${assignments.join('\n')}
  RETURN NEW;
END
$fn$`);
      statements.push(`DROP TRIGGER IF EXISTS ${trigger('derive')} ON ${t}`);
      statements.push(
        `CREATE TRIGGER ${trigger('derive')} BEFORE INSERT OR UPDATE ON ${t} FOR EACH ROW EXECUTE FUNCTION ${fn('derive')}()`,
      );
    }

    const pk = quoteIdent(table.primaryKey);
    const name = quoteLiteral(table.name);
    // Statement-level, over the statement's transition tables: one trigger call and a few
    // set-based statements per statement, however many rows it touched.
    const record = (rows: 'old_rows' | 'new_rows', gone: boolean, where = '') => {
      const current = gone
        ? 'NULL, NULL'
        : `r.${quoteIdent(table.owner)}::text, ${rowJsonSql(table, 'r')}`;
      const onConflict = gone
        ? 'cur_owner = NULL, cur_json = NULL'
        : 'cur_owner = excluded.cur_owner, cur_json = excluded.cur_json';
      // OFFSET 0 keeps the lookup a per-row index probe whatever the planner's statistics say.
      return `    INSERT INTO ${m}.tx_rows AS c (tx, table_name, pk, ord, rank, pk_json, prev_exists, prev_owner, prev_version, prev_deleted, cur_owner, cur_json)
    SELECT me, ${name}, r.${pk}::text, nextval('${m}.tx_rows_ord'), ${rank}, ${pkJsonSql(table, 'r')},
      s.found IS NOT NULL, s.owner, s.row_version, s.deleted, ${current}
    FROM ${rows} AS r
    LEFT JOIN LATERAL (
      SELECT true AS found, x.owner, x.row_version, x.deleted FROM ${m}.rows AS x
      WHERE x.table_name = ${name} AND x.pk = r.${pk}::text OFFSET 0
    ) AS s ON true${where}
    ON CONFLICT (tx, table_name, pk) DO UPDATE SET ${onConflict};`;
    };
    statements.push(`CREATE OR REPLACE FUNCTION ${fn('capture')}() RETURNS trigger
LANGUAGE plpgsql AS $fn$
DECLARE
  me xid8 := pg_current_xact_id();
BEGIN
  -- A statement that touched no row (an UPDATE matching nothing, the UPDATE half of an
  -- INSERT … ON CONFLICT that only inserted) has nothing to record.
  IF TG_OP = 'DELETE' THEN
    IF NOT EXISTS (SELECT FROM old_rows) THEN RETURN NULL; END IF;
  ELSIF NOT EXISTS (SELECT FROM new_rows) THEN
    RETURN NULL;
  END IF;
  IF current_setting(${quoteLiteral(names.sealQueuedSetting)}, true) IS DISTINCT FROM '1' THEN
    PERFORM set_config(${quoteLiteral(names.sealQueuedSetting)}, '1', true);
    INSERT INTO ${m}.tx_seal (tx) VALUES (me) ON CONFLICT DO NOTHING;
  END IF;
  IF TG_OP = 'DELETE' THEN
${record('old_rows', true)}
  ELSIF TG_OP = 'UPDATE' THEN
    -- Keys an update moved away from are gone; every new key holds its current row.
${record(
  'old_rows',
  true,
  `
    WHERE NOT EXISTS (SELECT 1 FROM new_rows AS n WHERE n.${pk} = r.${pk})`,
)}
${record('new_rows', false)}
  ELSE
${record('new_rows', false)}
  END IF;
  RETURN NULL;
END
$fn$`);
    for (const [event, referencing] of [
      ['insert', 'NEW TABLE AS new_rows'],
      ['update', 'OLD TABLE AS old_rows NEW TABLE AS new_rows'],
      ['delete', 'OLD TABLE AS old_rows'],
    ] as const) {
      statements.push(`DROP TRIGGER IF EXISTS ${trigger(`capture_${event}`)} ON ${t}`);
      statements.push(
        `CREATE TRIGGER ${trigger(`capture_${event}`)} AFTER ${event.toUpperCase()} ON ${t} REFERENCING ${referencing} FOR EACH STATEMENT EXECUTE FUNCTION ${fn('capture')}()`,
      );
    }
    statements.push(`DROP TRIGGER IF EXISTS ${trigger('no_truncate')} ON ${t}`);
    statements.push(
      `CREATE TRIGGER ${trigger('no_truncate')} BEFORE TRUNCATE ON ${t} FOR EACH STATEMENT EXECUTE FUNCTION ${m}.refuse_truncate()`,
    );
  });
  return statements.join(';\n') + ';';
}

/** A short stable hash of a DDL text, stored to know when it must be applied again. */
export function ddlHash(sql: string): string {
  return createHash('sha256').update(sql).digest('hex').slice(0, 32);
}

/**
 * `seal(push_user, source_id, source_bundle_id, now, instance, push_seq, decided…, digest)`:
 * commits the current transaction's touched rows as bundles. A push passes the row states it decided on
 * (`p_tables`… `p_deleted`); when a row no longer had that state as this transaction first
 * touched it, seal raises `serialization_failure` and the push runs again. Mirrors
 * `planBundles` of the core:
 *
 * 1. A row that exists now is an upsert for its current owner.
 * 2. A row alive before the transaction that is gone now, or now someone else's, is a delete
 *    for its previous owner.
 * 3. A row created and removed within the transaction has no effect.
 * 4. Each affected user gets `last_seq + 1`, allocated with INSERT … ON CONFLICT DO UPDATE on
 *    the user's sync-state row, which row-locks it until commit (users in a fixed order, so two
 *    sealing transactions never deadlock on each other); each touched row gets
 *    `rowVersion = max(previous + 1, bundleSeq of every user it touches)`.
 * 5. `push_user` always gets a bundle (a push consumes a seq even without effects), carrying
 *    `source_id`/`source_bundle_id` and the push's `digest`.
 * 6. Every bundle gets its history token, `nextHistoryToken` of the core in SQL: hex sha-256 of
 *    the user's `last_token` (or, without one, `genesisToken`: of "ferry-history", the
 *    `server_id` of `meta` and the user id), the seq, the source id, the source bundle id and
 *    the rows text, joined by newlines; the user's `last_token` becomes it.
 *
 * 7. A row the push inserted under a temporary key (`p_temp_tables`, `p_temp_pks`: its table
 *    and real key as text, `p_temp_keys`: the temporary key's JSON) carries `tempKey` in its
 *    upsert effect.
 *
 * Effects are ordered as `orderByRelations` orders them: upserts parents first, then deletes
 * children first, each table's rows in the order they were first touched. `push_seq` is for the
 * negative-control test only: a seq allocated outside the lock.
 */
function sealFunctionDdl(names: PgNames): string {
  const { m } = names;
  return `CREATE OR REPLACE FUNCTION ${m}.seal(
  p_push_user text, p_source_id text, p_source_bundle_id bigint, p_now timestamptz, p_instance text,
  p_push_seq bigint, p_tables text[], p_pks text[], p_existed boolean[], p_versions bigint[],
  p_deleted boolean[], p_digest text,
  p_temp_tables text[] DEFAULT NULL, p_temp_pks text[] DEFAULT NULL, p_temp_keys text[] DEFAULT NULL
) RETURNS TABLE (out_user text, out_seq bigint, out_count integer, out_rows text, out_origin text, out_token text)
LANGUAGE plpgsql AS $fn$
DECLARE
  me xid8 := pg_current_xact_id();
  v_now timestamptz := coalesce(p_now, nullif(current_setting(${quoteLiteral(NOW_SETTING)}, true), '')::timestamptz, now());
  v_server text;
  v_users text[];
  v_seqs bigint[] := '{}';
  v_prevs text[] := '{}';
  v_user text;
  v_seq bigint;
  v_prev text;
  r_users text[];
  r_seqs bigint[];
  r_counts integer[];
  r_rows text[];
  r_tokens text[];
  v_payload text;
  v_stale integer;
BEGIN
  IF p_tables IS NOT NULL THEN
    -- The rows the push decided on must still have had the decided state when this
    -- transaction first touched them (else a concurrent commit came in between).
    SELECT count(*) INTO v_stale
    FROM unnest(p_tables, p_pks, p_existed, p_versions, p_deleted) AS d(table_name, pk, existed, version, deleted)
    LEFT JOIN ${m}.tx_rows AS c ON c.tx = me AND c.table_name = d.table_name AND c.pk = d.pk
    WHERE c.tx IS NULL OR c.prev_exists <> d.existed
      OR (d.existed AND (c.prev_version <> d.version OR c.prev_deleted <> d.deleted));
    IF v_stale > 0 THEN
      RAISE EXCEPTION 'a concurrent commit changed % row(s) this push decided on', v_stale
        USING ERRCODE = 'serialization_failure';
    END IF;
  END IF;

  SELECT array_agg(u ORDER BY u) INTO v_users FROM (
    SELECT c.cur_owner AS u FROM ${m}.tx_rows c WHERE c.tx = me AND c.cur_owner IS NOT NULL
    UNION
    SELECT c.prev_owner FROM ${m}.tx_rows c
      WHERE c.tx = me AND c.prev_exists AND NOT c.prev_deleted AND c.prev_owner IS DISTINCT FROM c.cur_owner
    UNION
    SELECT p_push_user WHERE p_push_user IS NOT NULL
  ) AS affected;

  IF v_users IS NOT NULL THEN
    SELECT value INTO v_server FROM ${m}.meta WHERE key = 'server_id';
    IF v_server IS NULL THEN
      RAISE EXCEPTION 'the Ferry metadata in % has no server_id: open it with a Ferry server to upgrade it', ${quoteLiteral(names.meta)}
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    FOREACH v_user IN ARRAY v_users LOOP
      IF p_push_seq IS NOT NULL AND v_user = p_push_user THEN
        v_seq := p_push_seq;
        SELECT u.last_token INTO v_prev FROM ${m}.users AS u WHERE u.user_id = v_user;
      ELSE
        -- The row is updated, not yet its last_token: RETURNING gives the previous token.
        INSERT INTO ${m}.users AS u (user_id, last_seq) VALUES (v_user, 1)
          ON CONFLICT (user_id) DO UPDATE SET last_seq = u.last_seq + 1
          RETURNING u.last_seq, u.last_token INTO v_seq, v_prev;
      END IF;
      v_seqs := v_seqs || v_seq;
      v_prevs := v_prevs || coalesce(v_prev,
        encode(sha256(convert_to('ferry-history' || chr(10) || v_server || chr(10) || v_user, 'UTF8')), 'hex'));
    END LOOP;

    WITH alloc AS (
      SELECT a.user_id, a.seq, a.prev FROM unnest(v_users, v_seqs, v_prevs) AS a(user_id, seq, prev)
    ), touched AS (
      SELECT c.*,
        CASE WHEN c.prev_exists AND NOT c.prev_deleted AND c.prev_owner IS DISTINCT FROM c.cur_owner
          THEN c.prev_owner END AS losing
      FROM ${m}.tx_rows c WHERE c.tx = me
    ), versioned AS (
      SELECT t.table_name, t.pk, t.pk_json, t.rank, t.ord, t.cur_owner, t.cur_json, t.losing,
        greatest(coalesce(t.prev_version, 0) + 1, an.seq, al.seq) AS version
      FROM touched t
      LEFT JOIN alloc an ON an.user_id = t.cur_owner
      LEFT JOIN alloc al ON al.user_id = t.losing
      WHERE t.cur_owner IS NOT NULL OR t.losing IS NOT NULL
    ), states AS (
      INSERT INTO ${m}.rows AS s (table_name, pk, owner, row_version, deleted)
      SELECT v.table_name, v.pk, coalesce(v.cur_owner, v.losing), v.version, v.cur_owner IS NULL
      FROM versioned v
      ON CONFLICT (table_name, pk) DO UPDATE
        SET owner = excluded.owner, row_version = excluded.row_version, deleted = excluded.deleted
    ), effects AS (
      SELECT v.cur_owner AS user_id, 0 AS grp, v.rank AS key, v.ord,
        '{"table":' || to_json(v.table_name)::text || ',"pk":' || v.pk_json
          || ',"op":"upsert","rowVersion":' || v.version || ',"row":' || v.cur_json
          || coalesce(',"tempKey":' || tk.temp_json, '') || '}' AS effect
      FROM versioned v
      LEFT JOIN unnest(p_temp_tables, p_temp_pks, p_temp_keys) AS tk(table_name, pk, temp_json)
        ON tk.table_name = v.table_name AND tk.pk = v.pk
      WHERE v.cur_owner IS NOT NULL
      UNION ALL
      SELECT v.losing, 1, -v.rank, v.ord,
        '{"table":' || to_json(v.table_name)::text || ',"pk":' || v.pk_json
          || ',"op":"delete","rowVersion":' || v.version || ',"row":null}'
      FROM versioned v WHERE v.losing IS NOT NULL
    ), grouped AS (
      SELECT a.user_id, a.seq, a.prev,
        CASE WHEN a.user_id = p_push_user THEN p_source_id END AS source_id,
        CASE WHEN a.user_id = p_push_user THEN p_source_bundle_id END AS source_bundle_id,
        CASE WHEN a.user_id = p_push_user THEN p_digest END AS digest,
        count(e.effect)::integer AS row_count,
        '[' || coalesce(string_agg(e.effect, ',' ORDER BY e.grp, e.key, e.ord), '') || ']' AS rows
      FROM alloc a LEFT JOIN effects e ON e.user_id = a.user_id
      GROUP BY a.user_id, a.seq, a.prev
    ), made AS (
      INSERT INTO ${m}.bundles (user_id, bundle_seq, source_id, source_bundle_id, row_count, rows, committed_at, token, digest)
      SELECT g.user_id, g.seq, g.source_id, g.source_bundle_id, g.row_count, g.rows, v_now,
        encode(sha256(convert_to(g.prev || chr(10) || g.seq::text || chr(10) || coalesce(g.source_id, '')
          || chr(10) || coalesce(g.source_bundle_id::text, '') || chr(10) || g.rows, 'UTF8')), 'hex'),
        g.digest
      FROM grouped g
      RETURNING user_id, bundle_seq, row_count, rows, token
    )
    SELECT array_agg(made.user_id ORDER BY made.user_id), array_agg(made.bundle_seq ORDER BY made.user_id),
      array_agg(made.row_count ORDER BY made.user_id), array_agg(made.rows ORDER BY made.user_id),
      array_agg(made.token ORDER BY made.user_id)
    INTO r_users, r_seqs, r_counts, r_rows, r_tokens
    FROM made;

    UPDATE ${m}.users AS u SET last_token = t.token
    FROM unnest(r_users, r_tokens) AS t(user_id, token) WHERE u.user_id = t.user_id;

    FOR i IN 1 .. coalesce(array_length(r_users, 1), 0) LOOP
      out_user := r_users[i];
      out_seq := r_seqs[i];
      out_count := r_counts[i];
      out_rows := r_rows[i];
      out_token := r_tokens[i];
      out_origin := CASE WHEN out_user = p_push_user AND p_source_id IS NOT NULL THEN 'push' ELSE 'backend' END;
      v_payload := json_build_object('u', out_user, 's', out_seq, 'n', out_count, 'o', out_origin, 'i', p_instance)::text;
      -- NOTIFY payloads stop at 8000 bytes; a poke is only a hint, so an absurd user id goes without.
      IF octet_length(v_payload) < 7900 THEN
        PERFORM pg_notify(${quoteLiteral(names.channel)}, v_payload);
      END IF;
      RETURN NEXT;
    END LOOP;
  END IF;

  DELETE FROM ${m}.tx_rows WHERE tx = me;
  DELETE FROM ${m}.tx_seal WHERE tx = me;
  PERFORM set_config(${quoteLiteral(names.sealQueuedSetting)}, '', true);
END
$fn$`;
}

function functionName(kind: string, table: Table, rank: number): string {
  return /^[a-z_][a-z0-9_]{0,40}$/.test(table.name)
    ? `${kind}__${table.name}`
    : `${kind}__t${rank}`;
}

/** Keeps a derived object name within PostgreSQL's 63 bytes, unique by a hash suffix. */
function shortName(name: string): string {
  if (Buffer.byteLength(name) <= 63) return name;
  const hash = createHash('sha256').update(name).digest('hex').slice(0, 8);
  let prefix = name.slice(0, 50);
  while (Buffer.byteLength(prefix) > 50) prefix = prefix.slice(0, -1);
  return `${prefix}_${hash}`;
}

function columnDdl(column: Column): string {
  const c = quoteIdent(column.name);
  let sql = `${c} ${pgTypeOf(column.type)}`;
  if (column.notNull || column.isPrimaryKey) sql += ' NOT NULL';
  if (column.default !== undefined && column.default !== null) {
    sql += ` DEFAULT ${defaultLiteral(column.type, column.default)}`;
  }
  if (column.maxLength !== undefined && column.type === 'text') {
    sql += ` CHECK (char_length(${c}) <= ${column.maxLength})`;
  }
  return sql;
}

function defaultLiteral(type: ColumnType, value: JsonValue): string {
  switch (type) {
    case 'integer':
    case 'real':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'json':
      return `${quoteLiteral(JSON.stringify(value))}::jsonb`;
    default:
      return `${quoteLiteral(typeof value === 'string' ? value : JSON.stringify(value))}::${pgTypeOf(type)}`;
  }
}

/**
 * The wire JSON text of one value. Floats print with float8out (shortest exact form, with the
 * default extra_float_digits); NaN and infinities, which JSON cannot carry, become null.
 */
function valueJsonSql(type: ColumnType, value: string): string {
  switch (type) {
    case 'text':
      return `coalesce(to_json(${value})::text, 'null')`;
    case 'uuid':
      return `coalesce('"' || ${value}::text || '"', 'null')`;
    case 'integer':
      return `coalesce(${value}::text, 'null')`;
    case 'real':
      return `CASE WHEN ${value} IS NULL OR ${value} IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8) THEN 'null' ELSE ${value}::text END`;
    case 'boolean':
      return `CASE WHEN ${value} THEN 'true' WHEN NOT ${value} THEN 'false' ELSE 'null' END`;
    case 'timestamp':
      // Microseconds, printed as the protocol's canonical form: 3 digits when they are whole
      // milliseconds, else 6.
      return `coalesce('"' || to_char(${value} AT TIME ZONE 'UTC', CASE WHEN extract(microseconds FROM ${value})::bigint % 1000 = 0 THEN 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"' ELSE 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"' END) || '"', 'null')`;
    case 'json':
      return `coalesce(${value}::text, 'null')`;
  }
}

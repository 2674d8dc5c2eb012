import type { Column, ColumnType, Reference, Schema, Table } from '@ferry/protocol';

/**
 * What PostgreSQL's catalog says about the tables of the business schema (read by
 * `readExistingTables`), the input of {@link checkAdoption}.
 */
export interface ExistingTable {
  readonly name: string;
  /** `pg_class.relkind`: `r` a plain table; anything else (view, partitioned table…) is refused. */
  readonly kind: string;
  readonly columns: readonly ExistingColumn[];
  /** The primary key's columns in key order, or null without a primary key. */
  readonly primaryKey: readonly string[] | null;
  readonly foreignKeys: readonly ExistingForeignKey[];
  /** Its indexes (partial and expression indexes left out: they cover no plain column list). */
  readonly indexes: readonly ExistingIndex[];
}

export interface ExistingColumn {
  readonly name: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `bigint`, `character varying(200)`. */
  readonly type: string;
  readonly notNull: boolean;
  /** A default, an identity or a generation expression fills it when an INSERT leaves it out. */
  readonly hasDefault: boolean;
  /** GENERATED ALWAYS (an identity or a stored expression): an INSERT cannot write it. */
  readonly generatedAlways: boolean;
  /** It owns a sequence (an identity or serial column): `pg_get_serial_sequence` finds one. */
  readonly sequence?: boolean;
}

export interface ExistingForeignKey {
  readonly name: string;
  readonly columns: readonly string[];
  readonly parentSchema: string;
  readonly parentTable: string;
  readonly parentColumns: readonly string[];
  readonly onDelete: 'no action' | 'restrict' | 'cascade' | 'set null' | 'set default';
  readonly deferrable: boolean;
  readonly initiallyDeferred: boolean;
}

export interface ExistingIndex {
  readonly name: string;
  readonly columns: readonly string[];
  /** False for what an interrupted CREATE INDEX CONCURRENTLY left behind. */
  readonly valid: boolean;
}

/** Kinds of {@link AdoptMismatch}. */
export type AdoptMismatchKind =
  | 'missing_table'
  | 'not_a_table'
  | 'missing_column'
  | 'wrong_type'
  | 'nullability'
  | 'generated_column'
  | 'primary_key'
  | 'missing_reference'
  | 'reference_action'
  | 'reference_deferral'
  | 'extra_required_column'
  | 'missing_sequence';

/** One way an existing table does not fit the schema. */
export interface AdoptMismatch {
  readonly kind: AdoptMismatchKind;
  readonly table: string;
  readonly column?: string;
  /** One line for a person: what was found, what the schema needs. */
  readonly message: string;
}

/**
 * The PostgreSQL types that hold every value of a Ferry column type exactly and print it as the
 * protocol does: the type Ferry creates itself (`pgTypeOf`), and for text also `varchar`
 * (`character varying(n)` when the column's maxLength is at most n). Narrower integers
 * (`integer`, `smallint`) and `real` would refuse or round values a device may write; `numeric`,
 * `json`, `timestamp without time zone` and `char(n)` would print values other than those
 * written. None of them is accepted.
 */
export function acceptsPgType(column: Pick<Column, 'type' | 'maxLength'>, pgType: string): boolean {
  if (pgType === EXACT_TYPES[column.type]) return true;
  if (column.type !== 'text') return false;
  if (pgType === 'character varying') return true;
  const limit = /^character varying\((\d+)\)$/.exec(pgType)?.[1];
  return limit !== undefined && column.maxLength !== undefined && column.maxLength <= Number(limit);
}

const EXACT_TYPES: Readonly<Record<ColumnType, string>> = {
  text: 'text',
  uuid: 'uuid',
  integer: 'bigint',
  real: 'double precision',
  boolean: 'boolean',
  timestamp: 'timestamp with time zone',
  json: 'jsonb',
};

/**
 * Every way the existing tables of the business schema (`business`) do not fit `schema`, empty
 * when Ferry can adopt them as they are. Checked per declared table:
 *
 * - it exists and is a plain table;
 * - every declared column exists, with an accepted type ({@link acceptsPgType}), NOT NULL exactly
 *   when declared so (the primary key and the owner column always; a server-derived column may be
 *   NOT NULL either way, Ferry always fills it), and not GENERATED ALWAYS;
 * - the primary key is the declared column, alone;
 * - every declared reference has a foreign key on its column to the parent's column, with the
 *   declared ON DELETE (`restrict` accepts NO ACTION and RESTRICT), DEFERRABLE INITIALLY
 *   DEFERRED when the reference is in a cycle;
 * - a column the schema does not declare is fine when it is nullable or has a default (Ferry
 *   never writes it and never sends it); a NOT NULL one without default is a mismatch, since
 *   every insert from a device would fail.
 *
 * Not compared: defaults, CHECK constraints, unique constraints, triggers, indexes and extra
 * foreign keys (the database still enforces them; a push that breaks one fails), nor the rows.
 */
export function checkAdoption(
  schema: Schema,
  existing: readonly ExistingTable[],
  business: string,
): AdoptMismatch[] {
  const byName = new Map(existing.map((table) => [table.name, table]));
  const mismatches: AdoptMismatch[] = [];
  for (const table of schema.tables) {
    const found = byName.get(table.name);
    if (found === undefined) {
      mismatches.push({
        kind: 'missing_table',
        table: table.name,
        message: `table ${table.name} does not exist`,
      });
    } else if (found.kind !== 'r') {
      mismatches.push({
        kind: 'not_a_table',
        table: table.name,
        message: `${table.name} is ${RELATION_KINDS[found.kind] ?? `a relation of kind ${found.kind}`}, not a plain table`,
      });
    } else {
      mismatches.push(...tableMismatches(table, found, business));
    }
  }
  return mismatches;
}

const RELATION_KINDS: Readonly<Record<string, string>> = {
  v: 'a view',
  m: 'a materialized view',
  p: 'a partitioned table',
  f: 'a foreign table',
};

function tableMismatches(table: Table, found: ExistingTable, business: string): AdoptMismatch[] {
  const mismatches: AdoptMismatch[] = [];
  const at = (kind: AdoptMismatchKind, column: string | undefined, message: string) =>
    mismatches.push({ kind, table: table.name, ...(column ? { column } : {}), message });
  const columns = new Map(found.columns.map((column) => [column.name, column]));
  for (const column of table.columns) {
    const where = `${table.name}.${column.name}`;
    const existing = columns.get(column.name);
    if (existing === undefined) {
      at('missing_column', column.name, `column ${where} does not exist (${declared(column)})`);
      continue;
    }
    if (!acceptsPgType(column, existing.type)) {
      at(
        'wrong_type',
        column.name,
        `${where} is ${existing.type}; the schema's ${column.type}${column.maxLength === undefined ? '' : ` (maxLength ${column.maxLength})`} needs ${neededType(column)}`,
      );
    }
    if (column.notNull && !existing.notNull) {
      at(
        'nullability',
        column.name,
        `${where} is nullable; the schema needs NOT NULL${role(table, column)}`,
      );
    } else if (!column.notNull && existing.notNull && column.serverDerived === undefined) {
      at(
        'nullability',
        column.name,
        `${where} is NOT NULL; the schema declares it nullable, so a device may write null`,
      );
    }
    if (existing.generatedAlways) {
      at(
        'generated_column',
        column.name,
        `${where} is GENERATED ALWAYS; Ferry writes every declared column`,
      );
    }
  }
  const key = columns.get(table.primaryKey);
  if (
    table.serverKeys &&
    table.column(table.primaryKey)!.type === 'integer' &&
    key !== undefined &&
    key.sequence !== true
  ) {
    at(
      'missing_sequence',
      table.primaryKey,
      `${table.name}.${table.primaryKey} has no sequence; keys "server" takes new keys from one: make it an identity column (GENERATED BY DEFAULT AS IDENTITY) or a serial`,
    );
  }
  const pk = found.primaryKey;
  if (pk === null) {
    at(
      'primary_key',
      undefined,
      `${table.name} has no primary key; the schema's is ${table.primaryKey}`,
    );
  } else if (pk.length !== 1 || pk[0] !== table.primaryKey) {
    at(
      'primary_key',
      undefined,
      `${table.name}'s primary key is (${pk.join(', ')}); the schema's is (${table.primaryKey})`,
    );
  }
  for (const reference of table.references) {
    mismatches.push(...referenceMismatches(reference, found, business));
  }
  const declaredNames = new Set(table.columns.map((column) => column.name));
  for (const extra of found.columns) {
    if (declaredNames.has(extra.name) || !extra.notNull || extra.hasDefault) continue;
    at(
      'extra_required_column',
      extra.name,
      `${table.name}.${extra.name} is NOT NULL without a default and the schema does not declare it, so no insert from a device could fill it: give it a default, make it nullable or declare it`,
    );
  }
  return mismatches;
}

function referenceMismatches(
  reference: Reference,
  found: ExistingTable,
  business: string,
): AdoptMismatch[] {
  const where = `${reference.childTable}.${reference.column}`;
  const target = `${reference.parentTable}.${reference.parentColumn}`;
  const key = found.foreignKeys.find(
    (fk) =>
      fk.columns.length === 1 &&
      fk.columns[0] === reference.column &&
      fk.parentSchema === business &&
      fk.parentTable === reference.parentTable &&
      fk.parentColumns.length === 1 &&
      fk.parentColumns[0] === reference.parentColumn,
  );
  const at = (kind: AdoptMismatchKind, message: string): AdoptMismatch => ({
    kind,
    table: reference.childTable,
    column: reference.column,
    message,
  });
  if (key === undefined) {
    return [at('missing_reference', `${where} has no foreign key to ${target}`)];
  }
  const mismatches: AdoptMismatch[] = [];
  const actions =
    reference.onDelete === 'restrict' ? ['no action', 'restrict'] : [reference.onDelete];
  if (!actions.includes(key.onDelete)) {
    mismatches.push(
      at(
        'reference_action',
        `${where} → ${target} (${key.name}) is ON DELETE ${key.onDelete.toUpperCase()}; the schema's is ${reference.onDelete === 'restrict' ? 'NO ACTION (restrict)' : reference.onDelete.toUpperCase()}`,
      ),
    );
  }
  if (reference.inCycle && !(key.deferrable && key.initiallyDeferred)) {
    mismatches.push(
      at(
        'reference_deferral',
        `${where} → ${target} (${key.name}) is in a reference cycle and must be DEFERRABLE INITIALLY DEFERRED`,
      ),
    );
  }
  return mismatches;
}

function neededType(column: Column): string {
  if (column.type !== 'text') return EXACT_TYPES[column.type];
  return column.maxLength === undefined
    ? 'text or varchar'
    : `text, varchar or varchar(n) with n >= ${column.maxLength}`;
}

function declared(column: Column): string {
  return `${neededType(column)}${column.notNull ? ' NOT NULL' : ''}`;
}

function role(table: Table, column: Column): string {
  if (column.isPrimaryKey) return ' (the primary key)';
  if (column.name === table.owner) return ' (the owner column)';
  return '';
}

/** The message of an `adopt_mismatch` error: every mismatch, one per line. */
export function mismatchReport(mismatches: readonly AdoptMismatch[], business: string): string {
  const lines = mismatches.map((mismatch) => `  - ${mismatch.message}`);
  return `the existing tables in schema "${business}" do not fit the schema (${mismatches.length} mismatch${mismatches.length === 1 ? '' : 'es'}); nothing was changed:\n${lines.join('\n')}`;
}

/**
 * The schema declaration both sides load: tables, columns, owner column, references and
 * conflict policies. {@link defineSchema} validates a declaration and computes its relation
 * graph.
 *
 * @module
 */
import {
  COLUMN_TYPES,
  checkColumnValue,
  type ColumnType,
  type JsonValue,
  type WireValueOf,
} from './column-types.js';
import { FerryError } from './errors.js';
import { computeRelationGraph, type RelationGraph } from './relation-graph.js';

/** What happens to a child row when its parent is deleted. */
export const ON_DELETE_ACTIONS = ['cascade', 'restrict', 'set null'] as const;
/** One of {@link ON_DELETE_ACTIONS}. */
export type OnDeleteAction = (typeof ON_DELETE_ACTIONS)[number];

/**
 * How the server derives a column. `commitTime`: the commit's time on every change of the row
 * (an `updated_at`). `insertTime`: the commit's time when the row is first inserted, kept after.
 */
export const SERVER_DERIVED_KINDS = ['commitTime', 'insertTime'] as const;
/** One of {@link SERVER_DERIVED_KINDS}. */
export type ServerDerivedKind = (typeof SERVER_DERIVED_KINDS)[number];

/** The conflict policies the client ships with. Any other name is a custom resolver. */
export const BUILTIN_CONFLICT_POLICIES = [
  'server-wins',
  'client-wins',
  'field-merge',
  'manual',
] as const;
/** One of {@link BUILTIN_CONFLICT_POLICIES}. */
export type BuiltinConflictPolicy = (typeof BUILTIN_CONFLICT_POLICIES)[number];
/** A built-in policy, or the name of a custom resolver registered with the client. */
export type ConflictPolicyName = BuiltinConflictPolicy | (string & {});

/** The policy a table gets when its declaration names none. */
export const DEFAULT_CONFLICT_POLICY: BuiltinConflictPolicy = 'field-merge';

/**
 * What a `field-merge` does with a column that both sides changed to different values:
 * `server` (the default) keeps the server's value, `client` the local one, and `manual` settles
 * nothing: the row becomes a manual conflict for the app, so no edit is replaced by a rule.
 * A table's `merge` (the default of its columns) is one of these.
 */
export const FIELD_MERGE_RULES = ['server', 'client', 'manual'] as const;
/**
 * Rules a column may name besides {@link FIELD_MERGE_RULES}, which decide by the values:
 * `max` and `min` keep the larger or smaller (integer, real and timestamp columns: a high score,
 * a first-seen time; a null loses), `union` merges JSON arrays used as sets three-way (what
 * either side added is kept, what either side removed stays removed), and `{ latest: column }`
 * keeps the value of the side whose `column` (a timestamp, compared as time) is later (the server
 * on a tie).
 *
 * `counter` (integer and real columns) is more than a merge rule: a device pushes the amount it
 * added since its base (`deltas` on the wire), the server adds it to the current value, and a
 * push that changes nothing but counters never conflicts, so concurrent increments add up.
 */
export const VALUE_MERGE_RULES = ['max', 'min', 'union', 'counter'] as const;
/** A rule of {@link FIELD_MERGE_RULES}, {@link VALUE_MERGE_RULES}, or `{ latest: column }`. */
export type FieldMergeRule =
  | (typeof FIELD_MERGE_RULES)[number]
  | (typeof VALUE_MERGE_RULES)[number]
  | { readonly latest: string };
/** The rules a table's `merge` may name for its columns. */
export type TableMergeRule = (typeof FIELD_MERGE_RULES)[number];
/** @deprecated The former name of {@link FieldMergeRule}. */
export type FieldMergeWinner = FieldMergeRule;

/** A reference from a column to another table's primary key. */
export interface ReferenceDeclaration {
  /** The parent table. */
  readonly table: string;
  /** What the database does to this row when the parent is deleted (default `restrict`). */
  readonly onDelete?: OnDeleteAction;
}

/** One column of a table declaration. */
export interface ColumnDeclaration {
  readonly type: ColumnType;
  /** Null is rejected with `not_null`. The primary key and owner column are always not-null. */
  readonly notNull?: boolean;
  /** At most this many characters (text columns). */
  readonly maxLength?: number;
  /** Value used when an insert or upsert leaves the column out. */
  readonly default?: JsonValue;
  /** This column holds the primary key of a row of another table. */
  readonly references?: ReferenceDeclaration;
  /** Written by the server only; clients never send it. */
  readonly serverDerived?: ServerDerivedKind;
  /**
   * In a field-merge, what happens when both sides changed this column (default: the table's
   * `merge`, else `server`): see {@link FieldMergeRule}.
   */
  readonly merge?: FieldMergeRule;
  /**
   * This column is the previous version's column of that name, renamed (a migration hint: read
   * when the column is new in this version, ignored after).
   */
  readonly renamedFrom?: string;
}

/** A secondary index of a table, for queries (on the server and in every client file). */
export interface IndexDeclaration {
  /** Its columns, in order. */
  readonly columns: readonly string[];
}

/** One table of a schema declaration. */
export interface TableDeclaration {
  /** The primary key column (default `id`). */
  readonly primaryKey?: string;
  /** The column holding the owning user's id; set by the server from the token's `sub`. */
  readonly owner: string;
  readonly columns: Readonly<Record<string, ColumnDeclaration>>;
  /** How the client resolves a push conflict on this table (default `field-merge`). */
  readonly conflictPolicy?: ConflictPolicyName;
  /**
   * The `merge` rule of every column that declares none (default `server`). `manual`: an edit
   * of a column that the server also changed never loses to a rule; the row becomes a manual
   * conflict instead.
   */
  readonly merge?: TableMergeRule;
  /** Secondary indexes by name (the SQL index is called `ix_<table>_<name>`). */
  readonly indexes?: Readonly<Record<string, IndexDeclaration>>;
  /**
   * This table is the previous version's table of that name, renamed (a migration hint: read
   * when the table is new in this version, ignored after).
   */
  readonly renamedFrom?: string;
  /**
   * Rows are only ever inserted by devices (an event log, a ledger, comments): a device's update
   * or delete of a row is refused with `append_only`, and an insert never conflicts (its key is
   * new). Backend code may still change and delete rows.
   */
  readonly appendOnly?: boolean;
  /**
   * Who assigns the primary keys of new rows (default `client`). `server`: the server assigns
   * each inserted row's key inside the commit (an integer primary key from a sequence, a uuid
   * primary key as a new random uuid). A device inserts with a temporary key
   * ({@link temporaryKey}: a negative integer, or a random uuid) and may reference it from other
   * rows at once; the push answer maps it to the real key, and the client rewrites the row, every
   * reference to it and its pending work to the real key in one transaction.
   */
  readonly keys?: KeyAssignment;
}

/** Who assigns a table's primary keys: see {@link TableDeclaration.keys}. */
export const KEY_ASSIGNMENTS = ['client', 'server'] as const;
/** One of {@link KEY_ASSIGNMENTS}. */
export type KeyAssignment = (typeof KEY_ASSIGNMENTS)[number];

/**
 * The step of a migration that Ferry cannot derive from two declarations: SQL that runs on the
 * server after the version's added tables and columns exist and before its dropped ones go (a
 * data backfill, say). The rows it writes are captured and reach devices as bundles with no
 * source, like any backend write. Give one text for both stores, or one per store.
 */
export interface MigrationDeclaration {
  readonly sql?: string | { readonly sqlite?: string; readonly postgres?: string };
}

/** The argument of {@link defineSchema}. */
export interface SchemaDeclaration {
  /**
   * The schema's version (default 1): a positive integer that grows with every change. The
   * versions of an app live side by side in a {@link SchemaHistory}.
   */
  readonly version?: number;
  readonly tables: Readonly<Record<string, TableDeclaration>>;
  /** The custom step that leads to this version from the one before (server only). */
  readonly migration?: MigrationDeclaration;
}

/** A reference, resolved: `childTable.column → parentTable.parentColumn`. */
export interface Reference {
  readonly childTable: string;
  readonly column: string;
  readonly parentTable: string;
  readonly parentColumn: string;
  readonly onDelete: OnDeleteAction;
  /** The referencing column is not-null: a dangling value is an integrity violation. */
  readonly required: boolean;
  /** Part of a reference cycle: needs deferred constraints to be satisfiable in one order. */
  readonly inCycle: boolean;
}

/** A column, resolved. */
export interface Column {
  readonly name: string;
  readonly type: ColumnType;
  readonly notNull: boolean;
  readonly maxLength: number | undefined;
  readonly default: JsonValue | undefined;
  readonly serverDerived: ServerDerivedKind | undefined;
  /** The column's rule, or else its table's (see {@link FieldMergeRule}). */
  readonly merge: FieldMergeRule;
  readonly isPrimaryKey: boolean;
  readonly isOwner: boolean;
  readonly reference: Reference | undefined;
  /** See {@link ColumnDeclaration.renamedFrom}. */
  readonly renamedFrom: string | undefined;
}

/** An index, resolved. */
export interface Index {
  /** Its name in the declaration. */
  readonly name: string;
  /** Its SQL name: `ix_<table>_<name>`. */
  readonly sqlName: string;
  readonly columns: readonly string[];
}

/** A table, resolved. */
export interface Table {
  readonly name: string;
  readonly primaryKey: string;
  readonly owner: string;
  readonly conflictPolicy: ConflictPolicyName;
  /** Every column, in declaration order. */
  readonly columns: readonly Column[];
  /** Columns a client sends in an upsert: all but server-derived ones. */
  readonly clientColumns: readonly Column[];
  /** References from this table to its parents. */
  readonly references: readonly Reference[];
  /** References from other tables (children) to this one. */
  readonly referencedBy: readonly Reference[];
  /** Declared secondary indexes. */
  readonly indexes: readonly Index[];
  /** See {@link TableDeclaration.renamedFrom}. */
  readonly renamedFrom: string | undefined;
  /** See {@link TableDeclaration.appendOnly}. */
  readonly appendOnly: boolean;
  /** See {@link TableDeclaration.keys}: true when the server assigns this table's keys. */
  readonly serverKeys: boolean;
  column(name: string): Column | undefined;
}

/**
 * A validated schema with its relation graph.
 *
 * Invariants:
 * 1. Every table has a single-column primary key of type text, uuid or integer, and a text
 *    owner column; both are not-null.
 * 2. Every reference names an existing table and points at its primary key, with a column of
 *    the same type; `set null` only on a nullable column.
 * 3. `tables` is in parent-first order (`graph.tableOrder`); cycles are broken in declaration
 *    order and listed in `graph.cycles`.
 */
export interface Schema<D extends SchemaDeclaration = SchemaDeclaration> {
  /** The declaration this schema was made from (carries the row types). */
  readonly declaration: D;
  /** The declaration's `version` (default 1). */
  readonly version: number;
  /** The custom migration step that leads to this version, if any. */
  readonly migration: MigrationDeclaration | undefined;
  /** Tables in parent-first order. */
  readonly tables: readonly Table[];
  readonly graph: RelationGraph;
  /** Things that are allowed but deserve attention (reference cycles). */
  readonly warnings: readonly string[];
  /** A stable hash of the resolved schema; changes whenever the declaration does. */
  readonly fingerprint: string;
  /** The table called `name`, or undefined. */
  table(name: string): Table | undefined;
  /** The table called `name`; throws `invalid_argument` when there is none. */
  requireTable(name: string): Table;
}

/** Names of a schema's tables. */
export type TableName<S extends Schema> = Extract<keyof S['declaration']['tables'], string>;

type ColumnsOf<S extends Schema, N extends TableName<S>> = S['declaration']['tables'][N]['columns'];

type ValueOfColumn<C extends ColumnDeclaration> = C extends { notNull: true }
  ? WireValueOf<C['type']>
  : WireValueOf<C['type']> | null;

/** A whole row of table `N` as it travels on the wire. */
export type RowOf<S extends Schema, N extends TableName<S>> = {
  -readonly [K in keyof ColumnsOf<S, N>]: ValueOfColumn<ColumnsOf<S, N>[K]>;
};

/** A row loosely typed: column name to wire value. */
export type Row = Record<string, unknown>;

/**
 * Validates a schema declaration and computes its relation graph.
 *
 * Throws a {@link FerryError} with code `invalid_schema` naming every problem found.
 *
 * @example
 * const schema = defineSchema({
 *   tables: {
 *     lists: {
 *       owner: 'owner_id',
 *       columns: {
 *         id: { type: 'uuid' },
 *         owner_id: { type: 'text' },
 *         name: { type: 'text', notNull: true, maxLength: 200 },
 *       },
 *     },
 *   },
 * });
 */
export function defineSchema<const D extends SchemaDeclaration>(declaration: D): Schema<D> {
  const problems: string[] = [];
  const tableNames = Object.keys(declaration.tables);
  if (tableNames.length === 0) problems.push('a schema needs at least one table');
  const version = declaration.version ?? 1;
  if (!Number.isSafeInteger(version) || version < 1) {
    problems.push(`version must be a positive integer, not ${String(declaration.version)}`);
  }
  const sql = declaration.migration?.sql;
  if (sql !== undefined && typeof sql !== 'string') {
    if (typeof sql !== 'object' || sql === null) {
      problems.push('migration.sql must be a string or { sqlite, postgres }');
    } else {
      for (const [key, text] of Object.entries(sql)) {
        if (key !== 'sqlite' && key !== 'postgres') {
          problems.push(`migration.sql has unknown store "${key}"`);
        } else if (typeof text !== 'string') {
          problems.push(`migration.sql.${key} must be a string`);
        }
      }
    }
  }

  const drafts = tableNames.map((name) =>
    resolveTableDraft(name, declaration.tables[name] as TableDeclaration, problems),
  );
  const draftsByName = new Map(drafts.map((draft) => [draft.name, draft]));

  const edges: { childTable: string; column: string; parentTable: string }[] = [];
  for (const draft of drafts) {
    for (const column of draft.columns) {
      const ref = column.referencesDecl;
      if (!ref) continue;
      const parent = draftsByName.get(ref.table);
      if (!parent) {
        problems.push(`${draft.name}.${column.name} references unknown table "${ref.table}"`);
        continue;
      }
      const parentPk = parent.columns.find((c) => c.name === parent.primaryKey);
      if (
        parentPk &&
        parentPk.type !== column.type &&
        !(isTextual(parentPk.type) && isTextual(column.type))
      ) {
        problems.push(
          `${draft.name}.${column.name} is ${column.type} but references ${parent.name}.${parent.primaryKey} of type ${parentPk.type}`,
        );
      }
      const onDelete = ref.onDelete ?? 'restrict';
      if (!(ON_DELETE_ACTIONS as readonly string[]).includes(onDelete)) {
        problems.push(`${draft.name}.${column.name} has unknown onDelete "${String(onDelete)}"`);
      }
      if (onDelete === 'set null' && column.notNull) {
        problems.push(
          `${draft.name}.${column.name} is not-null, so onDelete "set null" is impossible`,
        );
      }
      if (column.serverDerived !== undefined) {
        problems.push(`${draft.name}.${column.name} cannot be both server-derived and a reference`);
      }
      edges.push({ childTable: draft.name, column: column.name, parentTable: parent.name });
    }
  }

  if (problems.length > 0) {
    throw new FerryError('invalid_schema', `invalid schema: ${problems.join('; ')}`, {
      details: { problems },
    });
  }

  const graph = computeRelationGraph(tableNames, edges);
  const cyclicEdges = new Set(graph.cyclicReferences.map((e) => `${e.childTable}.${e.column}`));

  const references: Reference[] = [];
  const referenceByColumn = new Map<string, Reference>();
  for (const edge of edges) {
    const child = draftsByName.get(edge.childTable)!;
    const parent = draftsByName.get(edge.parentTable)!;
    const column = child.columns.find((c) => c.name === edge.column)!;
    const reference: Reference = {
      childTable: edge.childTable,
      column: edge.column,
      parentTable: edge.parentTable,
      parentColumn: parent.primaryKey,
      onDelete: column.referencesDecl?.onDelete ?? 'restrict',
      required: column.notNull,
      inCycle: cyclicEdges.has(`${edge.childTable}.${edge.column}`),
    };
    references.push(reference);
    referenceByColumn.set(`${edge.childTable}.${edge.column}`, reference);
  }

  const tablesByName = new Map<string, Table>();
  for (const draft of drafts) {
    const columns: Column[] = draft.columns.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notNull,
      maxLength: c.maxLength,
      default: c.default,
      serverDerived: c.serverDerived,
      merge: c.merge,
      isPrimaryKey: c.name === draft.primaryKey,
      isOwner: c.name === draft.owner,
      reference: referenceByColumn.get(`${draft.name}.${c.name}`),
      renamedFrom: c.renamedFrom,
    }));
    const byName = new Map(columns.map((c) => [c.name, c]));
    const table: Table = {
      name: draft.name,
      primaryKey: draft.primaryKey,
      owner: draft.owner,
      conflictPolicy: draft.conflictPolicy,
      columns,
      clientColumns: columns.filter((c) => c.serverDerived === undefined),
      references: references.filter((r) => r.childTable === draft.name),
      referencedBy: references.filter((r) => r.parentTable === draft.name),
      indexes: draft.indexes,
      renamedFrom: draft.renamedFrom,
      appendOnly: draft.appendOnly,
      serverKeys: draft.serverKeys,
      column: (name) => byName.get(name),
    };
    tablesByName.set(draft.name, table);
  }

  const tables = graph.tableOrder.map((name) => tablesByName.get(name)!);
  const warnings = graph.cycles.map(
    (cycle) =>
      `reference cycle ${[...cycle, cycle[0]].join(' → ')}: rows can only be inserted in one transaction with deferred foreign keys`,
  );

  return {
    declaration,
    version,
    migration: declaration.migration,
    tables,
    graph,
    warnings,
    fingerprint: fingerprintOf(version, tables),
    table: (name) => tablesByName.get(name),
    requireTable: (name) => {
      const table = tablesByName.get(name);
      if (!table) throw new FerryError('invalid_argument', `unknown table "${name}"`);
      return table;
    },
  };
}

interface ColumnDraft {
  name: string;
  type: ColumnType;
  notNull: boolean;
  maxLength: number | undefined;
  default: JsonValue | undefined;
  serverDerived: ServerDerivedKind | undefined;
  merge: FieldMergeRule;
  referencesDecl: ReferenceDeclaration | undefined;
  renamedFrom: string | undefined;
}

interface TableDraft {
  name: string;
  primaryKey: string;
  owner: string;
  conflictPolicy: ConflictPolicyName;
  columns: ColumnDraft[];
  indexes: Index[];
  renamedFrom: string | undefined;
  appendOnly: boolean;
  serverKeys: boolean;
}

const IDENTIFIER = /^[a-z_][a-z0-9_]{0,62}$/;
const RESERVED_PREFIX = /^(ferry_|sqlite_|pg_)/;

function resolveTableDraft(name: string, decl: TableDeclaration, problems: string[]): TableDraft {
  if (!IDENTIFIER.test(name) || RESERVED_PREFIX.test(name)) {
    problems.push(
      `table name "${name}" must be a lower-case SQL identifier not starting with ferry_, sqlite_ or pg_`,
    );
  }
  const primaryKey = decl.primaryKey ?? 'id';
  let tableMerge: FieldMergeRule = 'server';
  if (decl.merge !== undefined) {
    if (isTableMergeRule(decl.merge)) tableMerge = decl.merge;
    else problems.push(`${name}: merge must be "server", "client" or "manual"`);
  }
  const columnNames = Object.keys(decl.columns ?? {});
  const columns: ColumnDraft[] = [];
  for (const columnName of columnNames) {
    const c = decl.columns[columnName] as ColumnDeclaration;
    const where = `${name}.${columnName}`;
    if (!IDENTIFIER.test(columnName)) {
      problems.push(`column name "${where}" must be a lower-case SQL identifier`);
    }
    if (!(COLUMN_TYPES as readonly string[]).includes(c.type)) {
      problems.push(`${where} has unknown type "${String(c.type)}"`);
      continue;
    }
    if (c.maxLength !== undefined) {
      if (c.type !== 'text') problems.push(`${where}: maxLength applies to text columns only`);
      if (!Number.isSafeInteger(c.maxLength) || c.maxLength < 1) {
        problems.push(`${where}: maxLength must be a positive integer`);
      }
    }
    if (c.serverDerived !== undefined) {
      if (!(SERVER_DERIVED_KINDS as readonly string[]).includes(c.serverDerived)) {
        problems.push(`${where} has unknown serverDerived kind "${String(c.serverDerived)}"`);
      } else if (c.type !== 'timestamp') {
        problems.push(`${where}: serverDerived "${c.serverDerived}" needs a timestamp column`);
      }
      if (columnName === primaryKey || columnName === decl.owner) {
        problems.push(`${where}: the primary key and owner column cannot be server-derived`);
      }
    }
    if (c.merge !== undefined) {
      const problem = columnMergeProblem(c.merge, c.type, columnName, decl.columns);
      if (problem !== undefined) problems.push(`${where}: ${problem}`);
    }
    const notNull = c.notNull === true || columnName === primaryKey || columnName === decl.owner;
    if (c.default !== undefined) {
      const check = checkColumnValue({ type: c.type, notNull, maxLength: c.maxLength }, c.default);
      if (!check.ok) problems.push(`${where}: default ${check.message}`);
    }
    columns.push({
      name: columnName,
      type: c.type,
      notNull,
      maxLength: c.maxLength,
      default: c.default,
      serverDerived: c.serverDerived,
      merge: c.merge ?? tableMerge,
      referencesDecl: c.references,
      renamedFrom: c.renamedFrom,
    });
    if (c.renamedFrom !== undefined && !IDENTIFIER.test(c.renamedFrom)) {
      problems.push(`${where}: renamedFrom must be a column name`);
    }
  }
  const pk = columns.find((c) => c.name === primaryKey);
  if (!pk) problems.push(`${name}: primary key column "${primaryKey}" is not declared`);
  else if (pk.type !== 'uuid' && pk.type !== 'text' && pk.type !== 'integer') {
    problems.push(`${name}.${primaryKey}: a primary key must be uuid, text or integer`);
  } else if (pk.referencesDecl) {
    problems.push(`${name}.${primaryKey}: a primary key cannot be a reference`);
  }
  if (typeof decl.owner !== 'string' || decl.owner.length === 0) {
    problems.push(`${name}: an owner column is required`);
  } else {
    const owner = columns.find((c) => c.name === decl.owner);
    if (!owner) problems.push(`${name}: owner column "${decl.owner}" is not declared`);
    else if (owner.type !== 'text')
      problems.push(`${name}.${decl.owner}: the owner column must be text`);
    else if (decl.owner === primaryKey)
      problems.push(`${name}: the owner column cannot be the primary key`);
    else if (owner.referencesDecl)
      problems.push(`${name}.${decl.owner}: the owner column cannot be a reference`);
  }
  if (decl.renamedFrom !== undefined && !IDENTIFIER.test(decl.renamedFrom)) {
    problems.push(`${name}: renamedFrom must be a table name`);
  }
  if (decl.appendOnly !== undefined && typeof decl.appendOnly !== 'boolean') {
    problems.push(`${name}: appendOnly must be true or false`);
  }
  if (decl.keys !== undefined && !(KEY_ASSIGNMENTS as readonly unknown[]).includes(decl.keys)) {
    problems.push(`${name}: keys must be "client" or "server"`);
  } else if (decl.keys === 'server') {
    const key = columns.find((c) => c.name === primaryKey);
    if (key && key.type !== 'integer' && key.type !== 'uuid') {
      problems.push(
        `${name}.${primaryKey}: keys "server" needs an integer or uuid primary key (a sequence or a random uuid)`,
      );
    }
  }
  for (const c of columns) {
    if (c.merge !== 'counter') continue;
    if (c.name === primaryKey)
      problems.push(`${name}.${c.name}: the primary key cannot be a counter`);
    else if (c.referencesDecl) problems.push(`${name}.${c.name}: a reference cannot be a counter`);
  }
  const indexes: Index[] = [];
  for (const [indexName, index] of Object.entries(decl.indexes ?? {})) {
    const where = `${name} index ${indexName}`;
    if (!IDENTIFIER.test(indexName)) problems.push(`${where}: the name must be an SQL identifier`);
    const names: readonly string[] = Array.isArray(index.columns) ? index.columns : [];
    if (names.length === 0) problems.push(`${where} needs at least one column`);
    for (const column of names) {
      if (!columns.some((c) => c.name === column)) {
        problems.push(`${where} names unknown column "${String(column)}"`);
      }
    }
    if (new Set(names).size !== names.length) problems.push(`${where} names a column twice`);
    indexes.push({ name: indexName, sqlName: `ix_${name}_${indexName}`, columns: [...names] });
  }
  return {
    name,
    primaryKey,
    owner: decl.owner,
    conflictPolicy: decl.conflictPolicy ?? DEFAULT_CONFLICT_POLICY,
    columns,
    indexes,
    renamedFrom: decl.renamedFrom,
    appendOnly: decl.appendOnly === true,
    serverKeys: decl.keys === 'server',
  };
}

function isTableMergeRule(value: unknown): value is TableMergeRule {
  return (FIELD_MERGE_RULES as readonly unknown[]).includes(value);
}

/** What is wrong with a column's `merge` rule, if anything. */
function columnMergeProblem(
  rule: unknown,
  type: ColumnType,
  name: string,
  columns: Readonly<Record<string, ColumnDeclaration>>,
): string | undefined {
  if (isTableMergeRule(rule)) return undefined;
  if (rule === 'max' || rule === 'min') {
    return type === 'integer' || type === 'real' || type === 'timestamp'
      ? undefined
      : `merge "${rule}" needs an integer, real or timestamp column`;
  }
  if (rule === 'counter') {
    return type === 'integer' || type === 'real'
      ? undefined
      : 'merge "counter" needs an integer or real column';
  }
  if (rule === 'union') {
    return type === 'json'
      ? undefined
      : 'merge "union" needs a json column (an array used as a set)';
  }
  if (typeof rule === 'object' && rule !== null && 'latest' in rule) {
    const by = rule.latest;
    if (typeof by !== 'string' || columns[by]?.type !== 'timestamp' || by === name) {
      return 'merge { latest } must name another timestamp column of the table';
    }
    return undefined;
  }
  return 'merge must be "server", "client", "manual", "max", "min", "union", "counter" or { latest: column }';
}

function isTextual(type: ColumnType): boolean {
  return type === 'text' || type === 'uuid';
}

function fingerprintOf(version: number, tables: readonly Table[]): string {
  // Version 1 and index-free tables hash as before versions and indexes existed, so data made
  // then is recognised.
  const shape: unknown[] = tables.map((t) => {
    const table: unknown[] = [
      t.name,
      t.primaryKey,
      t.owner,
      t.conflictPolicy,
      t.columns.map((c) => [
        c.name,
        c.type,
        c.notNull,
        c.maxLength ?? null,
        c.default ?? null,
        c.serverDerived ?? null,
        c.merge,
        c.reference ? [c.reference.parentTable, c.reference.onDelete] : null,
      ]),
    ];
    if (t.indexes.length > 0) table.push(t.indexes.map((i) => [i.name, i.columns]));
    if (t.appendOnly) table.push('appendOnly');
    if (t.serverKeys) table.push('serverKeys');
    return table;
  });
  const canonical = JSON.stringify(version === 1 ? shape : [version, shape]);
  // FNV-1a, 2 × 32 bits: stable and dependency-free (this package runs in browsers).
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193 ^ canonical.length;
  for (let i = 0; i < canonical.length; i++) {
    const code = canonical.charCodeAt(i);
    h1 = Math.imul(h1 ^ code, 0x01000193);
    h2 = Math.imul(h2 ^ code, 0x5bd1e995);
  }
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

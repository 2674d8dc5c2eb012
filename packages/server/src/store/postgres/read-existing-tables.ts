import type {
  ExistingColumn,
  ExistingForeignKey,
  ExistingIndex,
  ExistingTable,
} from './adopt-check.js';
import type { MigrationClient } from './migration-client.js';

const ON_DELETE: Readonly<Record<string, ExistingForeignKey['onDelete']>> = {
  a: 'no action',
  r: 'restrict',
  c: 'cascade',
  n: 'set null',
  d: 'set default',
};

/**
 * Reads from `pg_catalog` what {@link checkAdoption} compares: the relations of the business
 * schema named `tables` (the schema's tables; a missing one is simply absent), with their
 * columns, primary keys, foreign keys and plain indexes. Read-only.
 */
export async function readExistingTables(
  client: MigrationClient,
  business: string,
  tables: readonly string[],
): Promise<ExistingTable[]> {
  const { rows: relations } = await client.query(
    `SELECT c.oid::bigint AS oid, c.relname AS name, c.relkind::text AS kind
     FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
     WHERE n.nspname = $1 AND c.relname = ANY($2::text[]) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
    [business, tables],
  );
  if (relations.length === 0) return [];
  const oids = relations.map((r) => String(r.oid));
  const { rows: columns } = await client.query(
    `SELECT a.attrelid::bigint AS oid, a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       a.attnotnull AS not_null, (a.atthasdef OR a.attidentity <> '' OR a.attgenerated <> '') AS has_default,
       (a.attidentity = 'a' OR a.attgenerated <> '') AS generated_always,
       pg_get_serial_sequence(a.attrelid::regclass::text, a.attname) IS NOT NULL AS sequence
     FROM pg_attribute a
     WHERE a.attrelid = ANY($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
     ORDER BY a.attrelid, a.attnum`,
    [oids],
  );
  const { rows: constraints } = await client.query(
    `SELECT k.conrelid::bigint AS oid, k.conname AS name, k.contype::text AS type,
       ARRAY(SELECT a.attname::text FROM unnest(k.conkey) WITH ORDINALITY AS u(num, i)
             JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.num ORDER BY u.i) AS columns,
       pn.nspname AS parent_schema, pc.relname AS parent_table,
       ARRAY(SELECT a.attname::text FROM unnest(k.confkey) WITH ORDINALITY AS u(num, i)
             JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.num ORDER BY u.i) AS parent_columns,
       k.confdeltype::text AS on_delete, k.condeferrable AS deferrable, k.condeferred AS deferred
     FROM pg_constraint k
     LEFT JOIN pg_class pc ON pc.oid = k.confrelid
     LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     WHERE k.conrelid = ANY($1::oid[]) AND k.contype IN ('p', 'f')
     ORDER BY k.conname`,
    [oids],
  );
  const { rows: indexes } = await client.query(
    `SELECT i.indrelid::bigint AS oid, ic.relname AS name, i.indisvalid AS valid,
       ARRAY(SELECT a.attname::text FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS u(num, o)
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = u.num ORDER BY u.o) AS columns
     FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
     WHERE i.indrelid = ANY($1::oid[]) AND i.indpred IS NULL AND i.indexprs IS NULL
     ORDER BY ic.relname`,
    [oids],
  );
  return relations.map((relation): ExistingTable => {
    const oid = String(relation.oid);
    const mine = (row: Record<string, unknown>) => String(row.oid) === oid;
    const primary = constraints.find((c) => mine(c) && c.type === 'p');
    return {
      name: String(relation.name),
      kind: String(relation.kind),
      columns: columns.filter(mine).map((c): ExistingColumn => ({
        name: String(c.name),
        type: String(c.type),
        notNull: c.not_null === true,
        hasDefault: c.has_default === true,
        generatedAlways: c.generated_always === true,
        sequence: c.sequence === true,
      })),
      primaryKey: primary === undefined ? null : (primary.columns as string[]),
      foreignKeys: constraints
        .filter((c) => mine(c) && c.type === 'f')
        .map((c): ExistingForeignKey => ({
          name: String(c.name),
          columns: c.columns as string[],
          parentSchema: String(c.parent_schema),
          parentTable: String(c.parent_table),
          parentColumns: c.parent_columns as string[],
          onDelete: ON_DELETE[String(c.on_delete)] ?? 'no action',
          deferrable: c.deferrable === true,
          initiallyDeferred: c.deferred === true,
        })),
      indexes: indexes.filter(mine).map((i): ExistingIndex => ({
        name: String(i.name),
        columns: i.columns as string[],
        valid: i.valid === true,
      })),
    };
  });
}

/**
 * Which version of the schema history a store's database holds, decided once for both stores.
 *
 * @module
 */
import { FerryError, type Schema, type SchemaHistory } from '@ferry/protocol';

/** What a store read of its database's schema (its `meta`). */
export interface StoredSchema {
  readonly fingerprint: string | undefined;
  readonly version: string | undefined;
}

/** Outcome of {@link decideStoredSchema}. */
export type StoredSchemaDecision =
  | { readonly kind: 'empty' }
  | { readonly kind: 'version'; readonly schema: Schema }
  | { readonly kind: 'ahead'; readonly version: number; readonly latest: number }
  | { readonly kind: 'foreign'; readonly fingerprint: string };

/**
 * `empty` (no schema yet: create the newest), the `version` of the history it holds (migrate
 * from there), `ahead` of the history (another deployment migrated it further), or `foreign`
 * (a schema that is no version of the history).
 */
export function decideStoredSchema(
  stored: StoredSchema,
  history: SchemaHistory,
): StoredSchemaDecision {
  if (stored.fingerprint === undefined) return { kind: 'empty' };
  const schema = history.withFingerprint(stored.fingerprint);
  if (schema !== undefined) return { kind: 'version', schema };
  const version = Number(stored.version ?? 'NaN');
  const latest = history.latest.version;
  if (Number.isSafeInteger(version) && version > latest) return { kind: 'ahead', version, latest };
  return { kind: 'foreign', fingerprint: stored.fingerprint };
}

/** The error a store refuses to open with, naming its database as `where`. */
export function storedSchemaError(
  decision: Extract<StoredSchemaDecision, { kind: 'ahead' | 'foreign' }>,
  where: string,
  history: SchemaHistory,
): FerryError {
  if (decision.kind === 'ahead') {
    return new FerryError(
      'invalid_schema',
      `${where} holds schema version ${decision.version}, but this server's code knows versions up to ${decision.latest}: the database is ahead of its code; run the newer server`,
      { details: { stored: decision.version, latest: decision.latest } },
    );
  }
  return new FerryError(
    'invalid_schema',
    `${where} was set up for a schema that is no version of this server's history (fingerprint ${decision.fingerprint}; known versions ${history.versions.map((v) => v.version).join(', ')}): use its own database, or add its schema to the history`,
    { details: { stored: decision.fingerprint } },
  );
}

/** The schema version a database holds, or an error to refuse it with; undefined when empty. */
export function storedVersionOrThrow(
  stored: StoredSchema,
  history: SchemaHistory,
  where: string,
): Schema | undefined {
  const decision = decideStoredSchema(stored, history);
  if (decision.kind === 'empty') return undefined;
  if (decision.kind === 'version') return decision.schema;
  throw storedSchemaError(decision, where, history);
}

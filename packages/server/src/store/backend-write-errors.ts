/**
 * The errors of the backend write API (`BackendWriteTx`), the same for every store.
 *
 * @module
 */
import { FerryError, type PrimaryKey, type ValidationError } from '@ferry/protocol';

/** A row `upsert` or `insert` refused: `validation_failed` with every problem in `details`. */
export function invalidRowError(errors: readonly ValidationError[]): FerryError {
  return new FerryError(
    'validation_failed',
    `invalid row: ${errors.map((e) => e.message).join('; ')}`,
    { details: { errors } },
  );
}

/** An `insert` whose key names a row that exists: `conflict` (an `upsert` replaces it). */
export function rowExistsError(table: string, pk: PrimaryKey): FerryError {
  return new FerryError(
    'conflict',
    `${table} ${String(pk)} exists: insert writes new rows only (upsert replaces a row)`,
    { details: { table, pk } },
  );
}

/**
 * Temporary keys of rows inserted into tables whose keys the server assigns (`keys: 'server'`).
 *
 * @module
 */
import { FerryError } from './errors.js';
import type { PrimaryKey } from './wire.js';
import type { Table } from './schema.js';

/**
 * A new temporary key for a row of `table`, whose keys the server assigns: a random negative
 * safe integer for an integer key (the server's keys are positive, so the two never meet), a
 * random uuid for a uuid key. Random rather than counted, so a file restored from a backup or
 * copied never hands out a temporary key it handed out before.
 */
export function temporaryKey(table: Table): PrimaryKey {
  if (!table.serverKeys) {
    throw new FerryError(
      'invalid_argument',
      `${table.name}'s keys are the client's own: it takes no temporary keys`,
    );
  }
  const type = table.column(table.primaryKey)!.type;
  if (type === 'uuid') return globalThis.crypto.randomUUID();
  const words = globalThis.crypto.getRandomValues(new Uint32Array(2));
  // 53 random bits: -(1 … 2^53 - 1).
  const magnitude = (words[0]! & 0x1fffff) * 0x100000000 + words[1]!;
  return -(magnitude === 0 ? 1 : magnitude);
}

/** Whether `key` can only be a temporary key of `table` (a negative integer key). */
export function isTemporaryKey(table: Table, key: PrimaryKey): boolean {
  return table.serverKeys && typeof key === 'number' && key < 0;
}

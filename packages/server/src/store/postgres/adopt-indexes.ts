import type { Schema } from '@ferry/protocol';
import type { ExistingTable } from './adopt-check.js';
import { businessIndexes } from './postgres-ddl.js';

/** An index adoption builds (CONCURRENTLY), after dropping an invalid leftover of the same name. */
export interface IndexToBuild {
  readonly table: string;
  readonly name: string;
  readonly columns: readonly string[];
  /** An invalid index of this name is there (an interrupted build): drop it first. */
  readonly dropInvalid: boolean;
}

/**
 * The indexes Ferry would have created with the tables ({@link businessIndexes}) that the
 * existing tables lack: an index is there when a valid index has its name, or its columns are
 * the leading columns of a valid plain index (whatever that one is named). Pure.
 */
export function indexesToBuild(schema: Schema, existing: readonly ExistingTable[]): IndexToBuild[] {
  const byName = new Map(existing.map((table) => [table.name, table]));
  const build: IndexToBuild[] = [];
  for (const table of schema.tables) {
    const found = byName.get(table.name)?.indexes ?? [];
    for (const wanted of businessIndexes(table)) {
      const covered = found.some(
        (index) =>
          index.valid &&
          (index.name === wanted.name ||
            wanted.columns.every((column, i) => index.columns[i] === column)),
      );
      if (covered || build.some((b) => b.name === wanted.name)) continue;
      build.push({
        table: table.name,
        name: wanted.name,
        columns: wanted.columns,
        dropInvalid: found.some((index) => !index.valid && index.name === wanted.name),
      });
    }
  }
  return build;
}

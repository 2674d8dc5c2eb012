/**
 * The shell of `derived-state.ts`: runs the rebuilds a change calls for, in order, inside the
 * applying transaction; the first that throws fails the page with `derived_rebuild_failed`.
 *
 * @module
 */
import { FerryError, type PrimaryKey } from '@ferry/protocol';
import type { Executor } from '../local/metadata.js';
import { derivedRuns, type DerivedState } from './derived-state.js';

/** Rebuilds what `changed` calls for (null: a snapshot, everything); returns the names run. */
export async function rebuildDerived(
  tx: Executor,
  ordered: readonly DerivedState[],
  changed: ReadonlyMap<string, readonly PrimaryKey[]> | null,
): Promise<string[]> {
  const ran: string[] = [];
  for (const { entry, changed: told } of derivedRuns(ordered, changed)) {
    try {
      await entry.rebuild(
        { run: (sql, params) => tx.run(sql, params), all: (sql, params) => tx.all(sql, params) },
        told,
      );
    } catch (error) {
      throw new FerryError(
        'derived_rebuild_failed',
        `the rebuild of derived state "${entry.name}" failed: ${error instanceof Error ? error.message : String(error)}`,
        { cause: error, details: { derived: entry.name } },
      );
    }
    ran.push(entry.name);
  }
  return ran;
}

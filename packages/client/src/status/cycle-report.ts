import type { IntegrityViolation } from '../apply/integrity-gate.js';
import type { ConflictReport, DeadLetterReport, SettledConflict } from '../types.js';

/** What a cycle did so far; its steps add to it, and it becomes the `SyncReport`. */
export interface CycleReport {
  pushed: number;
  bundlesPushed: number;
  pulled: number;
  bundlesPulled: number;
  conflicts: ConflictReport[];
  settledConflicts: SettledConflict[];
  deadLettered: DeadLetterReport[];
  hydrated: boolean;
  warnings: IntegrityViolation[];
  morePush: boolean;
  morePull: boolean;
}

/** A report of a cycle that has done nothing yet. */
export function emptyCycleReport(): CycleReport {
  return {
    pushed: 0,
    bundlesPushed: 0,
    pulled: 0,
    bundlesPulled: 0,
    conflicts: [],
    settledConflicts: [],
    deadLettered: [],
    hydrated: false,
    warnings: [],
    morePush: false,
    morePull: false,
  };
}

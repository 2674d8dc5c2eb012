import type { Schema } from '@ferry/protocol';
import type { LocalState } from './local-inspector.js';
import type { ServerModel } from './server-model.js';
import type { InvariantId } from './simulation-types.js';
import { rowsEqual, stableJson } from './stable-json.js';

/** A device as the file checks see it. */
export interface CheckedDevice {
  readonly name: string;
  readonly userId: string;
  /** Prefix of every text value the user's devices write. */
  readonly tag: string;
  /** The highest checkpoint seen in the file before. */
  readonly lastCheckpoint: number | null;
}

/** One broken invariant. */
export interface Finding {
  readonly invariant: InvariantId;
  readonly message: string;
}

/**
 * Checks a client's committed file against the oracle:
 * - d: the checkpoint only rises and never passes the server's last bundle of the user;
 * - e: every row without local intent is the server's row as of the checkpoint, and every row
 *   the server had then is there (or has local intent);
 * - f: no row of another owner, no text written for another user.
 * Returns the first problem of each kind.
 */
export function checkClientFile(
  schema: Schema,
  model: ServerModel,
  device: CheckedDevice,
  local: LocalState,
  before?: Schema,
): Finding[] {
  const found: Finding[] = [];
  const checkpoint = local.checkpoint;
  if (checkpoint !== null) {
    if (device.lastCheckpoint !== null && checkpoint < device.lastCheckpoint) {
      found.push({
        invariant: 'ordering',
        message: `${device.name}: the checkpoint went back from ${device.lastCheckpoint} to ${checkpoint}`,
      });
    }
    const last = model.lastSeq(device.userId);
    if (checkpoint > last) {
      found.push({
        invariant: 'ordering',
        message: `${device.name}: checkpoint ${checkpoint} is past the server's last bundle ${last}`,
      });
    }
  }
  const isolation = isolationProblem(schema, device, local);
  if (isolation) found.push({ invariant: 'isolation', message: isolation });
  // A file its app's update migrated holds the new columns' defaults until the hydration that
  // follows brings the server's values: until then, it is held to the columns it had before.
  const known = before !== undefined && local.needsHydration ? before : schema;
  const completeness =
    checkpoint === null ? null : completenessProblem(known, model, device, local, checkpoint);
  if (completeness) found.push({ invariant: 'pull-completeness', message: completeness });
  return found;
}

function completenessProblem(
  schema: Schema,
  model: ServerModel,
  device: CheckedDevice,
  local: LocalState,
  checkpoint: number,
): string | null {
  const expected = model.stateAt(device.userId, checkpoint);
  for (const [key, entry] of local.rows) {
    if (local.intents.has(key)) continue;
    const want = expected.get(key);
    if (!want) {
      return `${device.name}: ${entry.table} ${entry.pk} is in the file without local intent, but the server did not have it at checkpoint ${checkpoint}`;
    }
    // A row last committed before the server's schema gained a column says nothing of it.
    const columns = schema.requireTable(entry.table).columns.filter((c) => c.name in want.row);
    if (!rowsEqual(columns, entry.row, want.row)) {
      return `${device.name}: ${entry.table} ${entry.pk} is ${stableJson(entry.row)} in the file, the server had ${stableJson(want.row)} at checkpoint ${checkpoint}`;
    }
  }
  for (const [key, want] of expected) {
    if (local.rows.has(key) || local.intents.has(key)) continue;
    const table = schema.requireTable(key.split('\u0000')[0]!);
    return `${device.name}: ${table.name} ${String(want.row[table.primaryKey])} is missing from the file at checkpoint ${checkpoint} (no local intent explains it)`;
  }
  return null;
}

function isolationProblem(schema: Schema, device: CheckedDevice, local: LocalState): string | null {
  for (const entry of local.rows.values()) {
    const table = schema.requireTable(entry.table);
    const owner = entry.row[table.owner];
    if (owner !== null && owner !== device.userId) {
      return `${device.name} (${device.userId}): ${entry.table} ${entry.pk} has owner ${JSON.stringify(owner)}`;
    }
    for (const column of table.columns) {
      const value = entry.row[column.name];
      if (column.type !== 'text' || column.isOwner || column.isPrimaryKey) continue;
      if (typeof value === 'string' && !value.startsWith(`${device.tag}~`)) {
        return `${device.name} (${device.userId}): ${entry.table}.${column.name} of ${entry.pk} holds "${value}", written for another user`;
      }
    }
  }
  return null;
}

/** Why a device does not yet equal the server for its user (empty when it does). */
export function lagBehind(
  schema: Schema,
  model: ServerModel,
  userId: string,
  local: LocalState,
): string[] {
  const why: string[] = [];
  if (local.pending > 0) why.push(`${local.pending} pending`);
  if (local.inFlight) why.push('a bundle in flight');
  if (local.parked.size > 0) why.push(`${local.parked.size} dead letters/conflicts`);
  const last = model.lastSeq(userId);
  if (local.checkpoint !== last) why.push(`checkpoint ${String(local.checkpoint)} of ${last}`);
  const alive = model.aliveRows(userId);
  let differ = 0;
  for (const [key, row] of alive) {
    const mine = local.rows.get(key);
    if (!mine || !rowsEqual(schema.requireTable(row.table).columns, mine.row, row.row)) differ++;
  }
  for (const key of local.rows.keys()) if (!alive.has(key)) differ++;
  if (differ > 0) why.push(`${differ} rows differ from the server`);
  return why;
}

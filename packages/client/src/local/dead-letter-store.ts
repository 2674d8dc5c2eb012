/**
 * `ferry_dead_letters`: the changes the server refused for good, kept for the app to retry or
 * discard. Every statement on the table is here.
 *
 * @module
 */
import type { PrimaryKey } from '@ferry/protocol';
import { frozenChangeValues, type Executor, type FrozenChange } from './metadata.js';

/** A dead letter as the table holds it (rows as JSON text). */
export type DeadLetterRecord = {
  readonly id: number;
  readonly tbl: string;
  readonly pk: PrimaryKey;
  readonly letter: 'I' | 'U' | 'D';
  readonly op: 'upsert' | 'delete';
  readonly base_version: number | null;
  readonly base: string | null;
  readonly row: string | null;
  readonly first_at: number;
  readonly code: string;
  readonly message: string;
  readonly status: number | null;
  readonly at: number;
};

/** What a refusal says of a change, as its dead letter keeps it. */
export interface DeadLetterCause {
  readonly code: string;
  readonly message: string;
  readonly status: number | null;
  readonly sourceBundleId: number;
  readonly at: number;
}

/** Puts `change` in the dead letters in place of any earlier one of its row; returns its id. */
export async function putDeadLetter(
  tx: Executor,
  change: FrozenChange,
  cause: DeadLetterCause,
): Promise<number> {
  await tx.run('DELETE FROM ferry_dead_letters WHERE tbl = ? AND pk = ?', [change.tbl, change.pk]);
  await tx.run(
    'INSERT INTO ferry_dead_letters (tbl, pk, letter, op, base_version, base, row, first_at, code, message, status, source_bundle_id, at) ' +
      'VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
    [
      ...frozenChangeValues(change),
      change.firstAt,
      cause.code,
      cause.message,
      cause.status,
      cause.sourceBundleId,
      cause.at,
    ],
  );
  const rows = await tx.all<{ id: number }>(
    'SELECT id FROM ferry_dead_letters WHERE tbl = ? AND pk = ?',
    [change.tbl, change.pk],
  );
  return rows[0]!.id;
}

/** Every dead letter, oldest first. */
export async function readDeadLetters(db: Executor): Promise<DeadLetterRecord[]> {
  return db.all<DeadLetterRecord>(
    'SELECT id, tbl, pk, letter, op, base_version, base, row, first_at, code, message, status, at FROM ferry_dead_letters ORDER BY id',
  );
}

/** Dead letter `id`, or undefined. */
export async function readDeadLetter(
  db: Executor,
  id: number,
): Promise<DeadLetterRecord | undefined> {
  const rows = await db.all<DeadLetterRecord>(
    'SELECT id, tbl, pk, letter, op, base_version, base, row, first_at, code, message, status, at FROM ferry_dead_letters WHERE id = ?',
    [id],
  );
  return rows[0];
}

export async function deleteDeadLetter(db: Executor, id: number): Promise<void> {
  await db.run('DELETE FROM ferry_dead_letters WHERE id = ?', [id]);
}

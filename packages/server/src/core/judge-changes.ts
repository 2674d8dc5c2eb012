/**
 * Runs the per-table `validate` and `authorize` hooks over a push's changes: the pure pieces
 * (what a hook sees of a change, what its answer means) and the thin shell that calls them.
 *
 * @module
 */
import {
  FerryError,
  PROTOCOL_ERROR_CODES,
  counterValue,
  VALIDATION_ERROR_CODES,
  type PrimaryKey,
  type WireRow,
} from '@ferry/protocol';
import type {
  ChangeHook,
  HookChange,
  HookReader,
  HookRefusal,
  ServerHooks,
  TokenClaims,
} from './server-hooks.js';
import type { NormalizedChange } from './validate-changes.js';

/** Which hook refused a change. */
export type HookName = 'validate' | 'authorize';

/** A change a hook refused, as the push's 403 names it (`details.changes[]`). */
export interface RefusedChange {
  readonly index: number;
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly hook: HookName;
  /** The hook's own code. */
  readonly hookCode: string;
  readonly message: string;
}

/**
 * Codes Ferry itself gives a refused change (and every protocol error code): a hook may not use
 * them, so a dead letter's code tells the embedder's rules from Ferry's.
 */
export const RESERVED_REFUSAL_CODES: ReadonlySet<string> = new Set<string>([
  ...PROTOCOL_ERROR_CODES,
  ...VALIDATION_ERROR_CODES,
]);

const REFUSAL_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;
const MAX_REFUSAL_MESSAGE = 1_000;

/** What a hook's answer means. */
export type VerdictReading =
  | { readonly kind: 'accept' }
  | { readonly kind: 'refuse'; readonly refusal: HookRefusal }
  | { readonly kind: 'malformed'; readonly reason: string };

/**
 * Reads a hook's answer. Pure. `undefined` (or null) accepts; `{ refuse: { code, message } }`
 * refuses with a code of 1 to 64 characters of letters, digits and `_ . : -` that is not reserved
 * ({@link RESERVED_REFUSAL_CODES}) and a message of at most 1,000 characters; anything else is
 * malformed (a bug of the hook: the push fails with a server error).
 */
export function readVerdict(verdict: unknown): VerdictReading {
  if (verdict === undefined || verdict === null) return { kind: 'accept' };
  if (typeof verdict !== 'object' || verdict === null || !('refuse' in verdict)) {
    return {
      kind: 'malformed',
      reason: 'a hook must return undefined or { refuse: { code, message } }',
    };
  }
  const refuse: unknown = verdict.refuse;
  if (typeof refuse !== 'object' || refuse === null) {
    return { kind: 'malformed', reason: 'refuse must be { code, message }' };
  }
  const { code, message } = refuse as { code?: unknown; message?: unknown };
  if (typeof code !== 'string' || !REFUSAL_CODE.test(code)) {
    return {
      kind: 'malformed',
      reason: `a refusal code must be 1 to 64 characters of letters, digits and _ . : -, not ${JSON.stringify(code)}`,
    };
  }
  if (RESERVED_REFUSAL_CODES.has(code)) {
    return { kind: 'malformed', reason: `the refusal code "${code}" is one of Ferry's own codes` };
  }
  if (typeof message !== 'string' || message.length > MAX_REFUSAL_MESSAGE) {
    return {
      kind: 'malformed',
      reason: `a refusal message must be a string of at most ${MAX_REFUSAL_MESSAGE} characters`,
    };
  }
  return { kind: 'refuse', refusal: { code, message } };
}

/**
 * A change as hooks see it. Pure. An upsert's row is the row as it will be stored: the written
 * columns of the change over the server's current row (a counter with a delta as the current
 * value plus the delta), or the change's whole row for a row the server does not have.
 */
export function hookChangeOf(change: NormalizedChange, serverRow: WireRow | null): HookChange {
  if (change.op === 'delete') {
    return {
      table: change.table.name,
      pk: change.pk,
      op: 'delete',
      row: null,
      columns: null,
      baseVersion: change.baseVersion,
    };
  }
  const sent = change.row!;
  let row: WireRow;
  if (serverRow === null) {
    row = { ...sent };
  } else {
    row = { ...serverRow };
    for (const column of change.writes!) {
      const delta = change.deltas?.[column];
      // A counter is stored as the current value plus the device's delta.
      row[column] = delta === undefined ? sent[column] : counterValue(serverRow[column]) + delta;
    }
  }
  return {
    table: change.table.name,
    pk: change.pk,
    op: 'upsert',
    row,
    columns: [...change.writes!],
    baseVersion: change.baseVersion,
  };
}

/** The hooks of a table as the server calls them: rows untyped (the schema's are checked). */
interface LooseTableHooks {
  readonly validate?: ChangeHook;
  readonly authorize?: ChangeHook;
}

/** Input of {@link judgeChanges}. */
export interface JudgeInput {
  readonly hooks: ServerHooks;
  readonly userId: string;
  readonly claims: TokenClaims;
  /** The changes to judge, with what hooks see of each and the server's current row. */
  readonly changes: readonly {
    readonly change: NormalizedChange;
    readonly seen: HookChange;
    readonly serverRow: WireRow | null;
  }[];
  readonly reader: HookReader;
}

/**
 * Runs each change's `validate` hook and then, unless it refused, its `authorize` hook, one
 * change after the other, and lists every refusal. A hook that throws or answers a malformed
 * verdict fails the push: a `FerryError` `internal` (500) whose cause is kept for the log.
 */
export async function judgeChanges(input: JudgeInput): Promise<RefusedChange[]> {
  const refused: RefusedChange[] = [];
  const tables = input.hooks.tables as
    Readonly<Record<string, LooseTableHooks | undefined>> | undefined;
  for (const { change, seen, serverRow } of input.changes) {
    const table = tables?.[change.table.name];
    if (!table) continue;
    for (const name of ['validate', 'authorize'] as const) {
      const hook = table[name];
      if (!hook) continue;
      const ctx = {
        userId: input.userId,
        claims: input.claims,
        serverRow,
        get: (table: string, pk: PrimaryKey) => input.reader.get(table, pk),
        query: (sql: string, params?: readonly unknown[]) => input.reader.query(sql, params),
      };
      let verdict: unknown;
      try {
        verdict = await hook(seen, ctx);
      } catch (cause) {
        throw hookFailure(`${name} hook of table ${change.table.name}`, cause);
      }
      const reading = readVerdict(verdict);
      if (reading.kind === 'malformed') {
        throw hookFailure(`${name} hook of table ${change.table.name}`, new Error(reading.reason));
      }
      if (reading.kind === 'refuse') {
        refused.push({
          index: change.index,
          table: change.table.name,
          pk: change.pk,
          hook: name,
          hookCode: reading.refusal.code,
          message: reading.refusal.message,
        });
        break;
      }
    }
  }
  return refused;
}

/**
 * The error of a hook that failed: 500 `internal` to the client (which learns only which hook),
 * with the hook's own error as the cause for the server's log.
 */
export function hookFailure(hook: string, cause: unknown): FerryError {
  return new FerryError('internal', `the server's ${hook} failed`, { cause });
}

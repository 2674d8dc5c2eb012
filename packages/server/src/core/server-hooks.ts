/**
 * Server-side rules an embedder registers: per-table `validate` and `authorize` hooks that may
 * refuse a pushed change with their own code and message, and a `beforeCommit` hook that writes
 * other rows in the push's transaction. The types here are the whole API; `judge-changes.ts`
 * runs the per-table hooks and `run-push.ts` calls them at their place in a push.
 *
 * @module
 */
import type { PrimaryKey, RowOf, Schema, TableName, WireRow } from '@ferry/protocol';
import type { BackendWriteTx } from '../store/server-store.js';

/** The claims of the request's token (`sub`, `exp`, a `role` …); empty when auth gives none. */
export type TokenClaims = Readonly<Record<string, unknown>>;

/**
 * A pushed change as a hook sees it, in the server's newest schema version; `R` is the row type
 * of its table (with `ServerHooks<typeof schema>`).
 */
export interface HookChange<R = WireRow> {
  readonly table: string;
  readonly pk: PrimaryKey;
  readonly op: 'upsert' | 'delete';
  /**
   * An upsert: the row as it will be stored (the server's current row with the written columns
   * of the change on top, or the whole new row; server-derived columns as they are now). A
   * delete: null.
   */
  readonly row: R | null;
  /**
   * An upsert: the columns the change names (always with the owner column): on a row the server
   * has, the only ones written; a new row is inserted whole. A delete: null.
   */
  readonly columns: readonly string[] | null;
  /** The `rowVersion` the device based the change on; null for a row new to it. */
  readonly baseVersion: number | null;
}

/**
 * Read-only access to the store inside the push's transaction, as it is before the push writes:
 * the caller's rows and queries.
 */
export interface HookReader {
  /** A row of the pushing user, or null (absent, deleted, or another user's). */
  get(table: string, pk: PrimaryKey): Promise<WireRow | null>;
  /**
   * One read-only SQL query of the store's dialect (SQLite `?` parameters; PostgreSQL `$1`),
   * on any rows: a statement that writes is refused (and the hook fails).
   */
  query(sql: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
}

/** What a `validate` or `authorize` hook is given besides the change. */
export interface HookContext<R = WireRow> extends HookReader {
  /** The pushing user (the token's `sub`). */
  readonly userId: string;
  /** The token's claims. */
  readonly claims: TokenClaims;
  /** The row as the server has it now; null when it has none (new, or deleted). */
  readonly serverRow: R | null;
}

/** A hook's refusal of one change: its own machine-readable code and a message for people. */
export interface HookRefusal {
  /**
   * 1 to 64 characters of letters, digits and `_ . : -`; not one of Ferry's own dead-letter
   * codes (`RESERVED_REFUSAL_CODES`), so an app can tell its rules' refusals from Ferry's.
   */
  readonly code: string;
  /** At most 1,000 characters. */
  readonly message: string;
}

/** The outcome of a `validate` or `authorize` hook: nothing (accepted) or a refusal. */
export type HookVerdict = { readonly refuse: HookRefusal } | null | undefined | void;

/** A `validate` or `authorize` hook. */
export type ChangeHook<R = WireRow> = (
  change: HookChange<R>,
  ctx: HookContext<R>,
) => HookVerdict | Promise<HookVerdict>;

/** The hooks of one table; `R` is its row type. */
export interface TableHooks<R = WireRow> {
  /** Business rules on the row (a refusal names what is wrong with the data). Runs first. */
  validate?(change: HookChange<R>, ctx: HookContext<R>): HookVerdict | Promise<HookVerdict>;
  /** Who may make the change (a refusal names what the caller may not do). */
  authorize?(change: HookChange<R>, ctx: HookContext<R>): HookVerdict | Promise<HookVerdict>;
}

/** The bundle `beforeCommit` is given: the push's changes as they were written. */
export interface CommittingBundle {
  readonly userId: string;
  readonly claims: TokenClaims;
  readonly sourceId: string;
  readonly sourceBundleId: number;
  /** The changes written, parents first (deletes of rows the server does not have left out). */
  readonly changes: readonly HookChange[];
}

/**
 * The server-side rules of a Ferry server (`createFerryServer({ hooks })`, `ferry serve
 * --hooks`); `ServerHooks<typeof schema>` types each table's rows. Hooks run inside the push's
 * transaction while the user's pushes wait: keep them short, do no network I/O, and make them
 * free of outside effects (the PostgreSQL store runs a push again when it loses a race with a
 * concurrent commit, and the hooks with it).
 *
 * A hook that throws is a server error: the push answers 500 `internal`, the error is logged,
 * nothing commits. Refusing is a value, never a throw.
 */
export interface ServerHooks<S extends Schema = Schema> {
  /**
   * Per-table hooks, by table name (the server's newest schema version). With
   * `ServerHooks<typeof schema>`, only the schema's tables, each with its typed rows.
   */
  readonly tables?: { readonly [N in TableName<S>]?: TableHooks<RowOf<S, N>> };
  /**
   * Runs once the push's changes are written and before its bundle is sealed, in the same
   * transaction: what it writes through `tx` (an audit row, a derived total; also other users'
   * rows through `tx.execute`) is captured into the push's bundle like a cascade, and the other
   * users' effects into bundles of theirs. `tx` acts for the pushing user.
   */
  beforeCommit?(tx: BackendWriteTx, bundle: CommittingBundle): Promise<void> | void;
}

/**
 * Serving clients of every version of the schema history: which versions a server serves, and
 * requests and answers seen in the client's version. The store works in the newest version;
 * these pure functions translate at the edge, so a rule of the protocol lives once.
 *
 * @module
 */
import type { PushOutcome } from '../store/server-store.js';
import type { PullPage } from './wire-json.js';
import {
  projectionBetween,
  subsetSchema,
  type Change,
  type Conflict,
  type RowEffect,
  type Schema,
  type SchemaHistory,
  type SnapshotRow,
  type ValidationError,
  type VersionProjection,
} from '@ferry/protocol';

/** Outcome of {@link decideClientVersion}. */
export type ClientVersionDecision =
  | { readonly kind: 'serve'; readonly version: number }
  | { readonly kind: 'ahead'; readonly version: number; readonly latest: number }
  | { readonly kind: 'too_old'; readonly version: number; readonly oldest: number }
  | { readonly kind: 'invalid'; readonly message: string };

/**
 * Which version a request runs, from its `x-ferry-schema` value (`null`: not sent, a client
 * older than schema versions, so version 1): served when the history has it and it is not
 * older than `oldest` (default: the history's first version); `ahead` when newer than the
 * server's newest; `too_old` otherwise.
 */
export function decideClientVersion(
  raw: string | null,
  history: SchemaHistory,
  oldest: number = history.versions[0]!.version,
): ClientVersionDecision {
  const latest = history.latest.version;
  if (raw !== null && !/^[1-9][0-9]{0,8}$/.test(raw)) {
    return { kind: 'invalid', message: 'x-ferry-schema must be a positive integer' };
  }
  const version = raw === null ? 1 : Number(raw);
  if (version > latest) return { kind: 'ahead', version, latest };
  if (version < oldest || history.at(version) === undefined) {
    return { kind: 'too_old', version, oldest };
  }
  return { kind: 'serve', version };
}

/**
 * A pushed change of a client of version `toLatest.from`, in the newest version: names
 * mapped, columns the newest version dropped left out, and nothing added (a push writes only
 * what its device knows). A change of a table the newest version lacks keeps its name, so it is
 * refused as `unknown_table` and its device keeps it as a dead letter.
 */
export function changeToLatest(change: Change, toLatest: VersionProjection): Change {
  if (toLatest.identity) return change;
  const table = toLatest.table(change.table);
  if (table === null) return change;
  if (change.op === 'delete') return { ...change, table };
  const row = toLatest.row(change.table, change.row, false)?.row ?? change.row;
  if (change.columns === undefined) return { ...change, table, row };
  const columns = change.columns
    .map((column) => toLatest.column(change.table, column))
    .filter((column): column is string => column !== null);
  return { ...change, table, row, columns };
}

/** Row effects (a JSON array, as stored) of version `projection.from` in `projection.to`. */
export function effectsJsonFor(rowsJson: string, projection: VersionProjection): string {
  if (projection.identity) return rowsJson;
  const effects = JSON.parse(rowsJson) as RowEffect[];
  return JSON.stringify(effects.flatMap((effect) => effectFor(effect, projection)));
}

function effectFor(effect: RowEffect, projection: VersionProjection): RowEffect[] {
  if (effect.op === 'delete') {
    const table = projection.table(effect.table);
    return table === null ? [] : [{ ...effect, table }];
  }
  const seen = projection.row(effect.table, effect.row, true);
  return seen === null ? [] : [{ ...effect, table: seen.table, row: seen.row }];
}

/** A snapshot line of the newest version as a client of `projection.to` gets it, or null. */
export function snapshotRowFor(
  line: SnapshotRow,
  projection: VersionProjection,
): SnapshotRow | null {
  if (projection.identity) return line;
  const seen = projection.row(line.table, line.row, true);
  return seen === null ? null : { ...line, table: seen.table, row: seen.row };
}

/** Conflicts (in the newest version) as the pushing client of `fromLatest.to` reads them. */
export function conflictsFor(
  conflicts: readonly Conflict[],
  pushed: readonly Change[],
  fromLatest: VersionProjection,
): Conflict[] {
  if (fromLatest.identity) return [...conflicts];
  return conflicts.map((conflict) => {
    // The client named the table as its version does; answer with its own name.
    const table =
      pushed[conflict.index]?.table ?? fromLatest.table(conflict.table) ?? conflict.table;
    const serverRow =
      conflict.serverRow === null
        ? null
        : (fromLatest.row(conflict.table, conflict.serverRow, true)?.row ?? null);
    return { ...conflict, table, serverRow };
  });
}

/** Validation errors (naming the newest version's tables and columns) in the client's names. */
export function validationErrorsFor(
  errors: readonly ValidationError[],
  pushed: readonly Change[],
  fromLatest: VersionProjection,
): ValidationError[] {
  if (fromLatest.identity) return [...errors];
  return errors.map((error) => {
    const table = pushed[error.index]?.table ?? error.table;
    if (error.column === undefined) return { ...error, table };
    const column = fromLatest.column(error.table, error.column) ?? error.column;
    return { ...error, table, column };
  });
}

/** The projection between a client's version and the newest, both ways. */
export interface ClientProjections {
  readonly version: number;
  readonly toLatest: VersionProjection;
  readonly fromLatest: VersionProjection;
  /**
   * From the version a stored bundle is in (`null`: from before versions, so 1; `undefined`:
   * the store does not say, so the newest).
   */
  fromStored(version: number | null | undefined): VersionProjection;
}

/**
 * The projections of a client of `version` that syncs `tables` (its version's names; undefined:
 * all): rows of other tables are left out of everything it is sent.
 */
export function clientProjections(
  history: SchemaHistory,
  version: number,
  tables?: ReadonlySet<string>,
): ClientProjections {
  const latest = history.latest.version;
  const cache = new Map<number, VersionProjection>();
  const between = (from: number) => {
    let projection = cache.get(from);
    if (projection === undefined) {
      projection = projectionBetween(history, from, version);
      if (tables !== undefined) projection = onlyTables(projection, tables);
      cache.set(from, projection);
    }
    return projection;
  };
  return {
    version,
    toLatest: projectionBetween(history, version, latest),
    fromLatest: between(latest),
    fromStored: (stored) => between(stored === undefined ? latest : (stored ?? 1)),
  };
}

/** `projection`, leaving out every table but `tables` (named as the projection's target names them). */
function onlyTables(projection: VersionProjection, tables: ReadonlySet<string>): VersionProjection {
  const kept = (name: string | null) => (name !== null && tables.has(name) ? name : null);
  return {
    from: projection.from,
    to: projection.to,
    identity: false,
    table: (name) => kept(projection.table(name)),
    column: (table, column) =>
      kept(projection.table(table)) === null ? null : projection.column(table, column),
    row(table, row, fill) {
      const seen = projection.row(table, row, fill);
      return seen !== null && tables.has(seen.table) ? seen : null;
    },
  };
}

/**
 * The tables a request syncs, from its `x-ferry-tables` value (null: all): each a table of the
 * client's version, with every table it references (see `subsetSchema`). An error message when
 * it is not such a set.
 */
export function decideSyncedTables(
  raw: string | null,
  schema: Schema,
):
  | { readonly ok: true; readonly tables: ReadonlySet<string> | undefined }
  | { readonly ok: false; readonly message: string } {
  if (raw === null) return { ok: true, tables: undefined };
  const names = raw.split(',').map((name) => name.trim());
  try {
    subsetSchema(schema, names);
  } catch (error) {
    return { ok: false, message: `x-ferry-tables: ${(error as Error).message}` };
  }
  return { ok: true, tables: new Set(names) };
}

/**
 * A push outcome (in the newest version) as the pushing client of `client.version` reads it:
 * its rows, conflicts and refused changes in its version's names and shape. A committed push's
 * rows are in the newest version, or, for a replay of a push committed before a migration, in
 * the version they committed in (`schemaVersion`).
 */
export function forClient(
  outcome: PushOutcome,
  pushed: readonly Change[],
  client: ClientProjections,
): PushOutcome {
  const projection =
    outcome.kind === 'committed' ? client.fromStored(outcome.schemaVersion) : client.fromLatest;
  if (projection.identity) return outcome;
  switch (outcome.kind) {
    case 'committed': {
      const answer = JSON.parse(outcome.responseJson) as { rows: unknown };
      const rowsJson = effectsJsonFor(JSON.stringify(answer.rows), projection);
      const responseJson = JSON.stringify({ ...answer, rows: JSON.parse(rowsJson) as unknown });
      return { ...outcome, responseJson };
    }
    case 'conflict':
      return { ...outcome, conflicts: conflictsFor(outcome.conflicts, pushed, client.fromLatest) };
    case 'rejected': {
      const details = outcome.details as { errors?: unknown; changes?: unknown } | undefined;
      if (outcome.code === 'validation_failed' && Array.isArray(details?.errors)) {
        const errors = validationErrorsFor(
          details.errors as ValidationError[],
          pushed,
          client.fromLatest,
        );
        return { ...outcome, details: { ...details, errors } };
      }
      if (outcome.code === 'forbidden' && Array.isArray(details?.changes)) {
        const changes = (details.changes as { index: number; table: string }[]).map((c) => ({
          ...c,
          table: pushed[c.index]?.table ?? c.table,
        }));
        return { ...outcome, details: { ...details, changes } };
      }
      return outcome;
    }
  }
}

/** A pull page as a client of `client.version` reads it: each bundle in the client's shape. */
export function pageForClient(page: PullPage, client: ClientProjections): PullPage {
  if (page.bundles.every((b) => client.fromStored(b.schemaVersion).identity)) return page;
  return {
    ...page,
    bundles: page.bundles.map((bundle) => {
      const projection = client.fromStored(bundle.schemaVersion);
      if (projection.identity) return bundle;
      const rowsJson = effectsJsonFor(bundle.rowsJson, projection);
      const rowCount = (JSON.parse(rowsJson) as unknown[]).length;
      return { ...bundle, rowsJson, rowCount };
    }),
  };
}

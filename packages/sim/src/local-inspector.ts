import Database from 'better-sqlite3';
import { fromSqliteValue, type PrimaryKey, type Row, type Schema } from '@ferry/protocol';
import { rowKey } from './server-model.js';

/** A client's file as the simulator sees it (committed state only). */
export interface LocalState {
  /** The pull checkpoint, or null before the first sync. */
  readonly checkpoint: number | null;
  /** The server's history token of the checkpoint, as the client keeps it. */
  readonly checkpointToken: string | null;
  /** The source id the client pushes under now (it rotates). */
  readonly sourceId: string | null;
  /** Every row of every synced table, by row key, as wire values. */
  readonly rows: ReadonlyMap<
    string,
    { readonly table: string; readonly pk: PrimaryKey; readonly row: Row }
  >;
  /** Rows with local intent: captured, pending, in flight, dead-lettered or in a manual conflict. */
  readonly intents: ReadonlySet<string>;
  /** Rows dead-lettered or in a manual conflict (what the app can see). */
  readonly parked: ReadonlyMap<string, 'dead' | 'conflict'>;
  /** Rows with pending or captured changes, and the bundle in flight. */
  readonly pending: number;
  readonly inFlight: boolean;
  /** The file waits for a hydration (after a source rotation, a lost history, a migration). */
  readonly needsHydration: boolean;
}

/** A change of the bundle in flight, as the file holds it (see {@link LocalInspector.frozenBases}). */
export interface FrozenBase {
  readonly op: string;
  readonly baseVersion: number | null;
  /** The server row the change was made on; null for none (a new row, or a tombstone). */
  readonly base: Row | null;
  /** The row the change carries, as JSON (null for a delete). */
  readonly row: string | null;
}

/**
 * Reads a client's SQLite file through its own read-only connection: the committed state, in
 * one read transaction, without going through (or waiting for) the client. The tables it reads
 * are the documented local format (docs/client.md, "The local file").
 */
export class LocalInspector {
  readonly #db: Database.Database;
  readonly #schema: Schema;
  readonly #statements = new Map<string, Database.Statement>();
  #cached: { version: number; state: LocalState } | undefined;

  constructor(path: string, schema: Schema) {
    this.#db = new Database(path, { readonly: true, fileMustExist: true });
    this.#schema = schema;
  }

  #prepare(sql: string): Database.Statement {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /**
   * The file's committed state. Cached until another connection commits (SQLite's
   * `data_version` tells): most steps change nothing in most files.
   */
  read(): LocalState {
    const version = (this.#prepare('PRAGMA data_version').get() as { data_version: number })
      .data_version;
    if (this.#cached && this.#cached.version === version) return this.#cached.state;
    const state = this.#readNow();
    this.#cached = { version, state };
    return state;
  }

  #readNow(): LocalState {
    this.#prepare('BEGIN').run();
    try {
      const state = (key: string) =>
        (
          this.#prepare('SELECT value FROM ferry_state WHERE key = ?').get(key) as
            { value: unknown } | undefined
        )?.value ?? null;
      const checkpoint = state('checkpoint') as number | null;
      const checkpointToken = state('checkpoint_token') as string | null;
      const sourceId = state('source_id') as string | null;
      const needsHydration = state('needs_hydration') === 1;
      const rows = new Map<string, { table: string; pk: PrimaryKey; row: Row }>();
      for (const table of this.#schema.tables) {
        const raw = this.#prepare(`SELECT * FROM "${table.name}"`).all() as Record<
          string,
          unknown
        >[];
        for (const r of raw) {
          const row: Row = {};
          for (const column of table.columns) {
            row[column.name] = fromSqliteValue(column.type, r[column.name]);
          }
          const pk = row[table.primaryKey] as PrimaryKey;
          rows.set(rowKey(table.name, pk), { table: table.name, pk, row });
        }
      }
      const intents = new Set<string>();
      const parked = new Map<string, 'dead' | 'conflict'>();
      const intentRows = this.#prepare(
        "SELECT tbl, pk, kind FROM ferry_intent UNION ALL SELECT tbl, pk, 'log' FROM ferry_log WHERE tbl IS NOT NULL",
      ).all() as { tbl: string; pk: PrimaryKey; kind: string }[];
      for (const { tbl, pk, kind } of intentRows) {
        const key = rowKey(tbl, this.#pkOf(tbl, pk));
        intents.add(key);
        if (kind === 'dead' || kind === 'conflict') parked.set(key, kind);
      }
      const pending = (
        this.#prepare(
          'SELECT (SELECT count(*) FROM ferry_outbox) + (SELECT count(*) FROM ferry_log WHERE tbl IS NOT NULL) AS n',
        ).get() as { n: number }
      ).n;
      const inFlight =
        (this.#prepare('SELECT count(*) AS n FROM ferry_bundle').get() as { n: number }).n > 0;
      return {
        checkpoint,
        checkpointToken,
        sourceId,
        rows,
        intents,
        parked,
        pending,
        inFlight,
        needsHydration,
      };
    } finally {
      this.#prepare('COMMIT').run();
    }
  }

  /** How many rows are dead-lettered or in a manual conflict. */
  parkedCount(): number {
    return (
      this.#prepare(
        'SELECT (SELECT count(*) FROM ferry_dead_letters) + (SELECT count(*) FROM ferry_conflicts) AS n',
      ).get() as { n: number }
    ).n;
  }

  /** A consistent copy of the file at `path` (`VACUUM INTO`, as a backup tool would take). */
  copyTo(path: string): void {
    this.#db.prepare('VACUUM INTO ?').run(path);
  }

  /**
   * The changes of the file's bundle in flight when it is bundle `sourceBundleId` of `sourceId`,
   * by row key: what each was made on (`base_version`, and the base row the file keeps for it)
   * and what it carries (`row`, as JSON). Undefined when the file holds another bundle, or none.
   */
  frozenBases(sourceId: string, sourceBundleId: number): Map<string, FrozenBase> | undefined {
    const head = this.#prepare(
      'SELECT source_id, source_bundle_id FROM ferry_bundle WHERE id = 1',
    ).get() as { source_id: string; source_bundle_id: number } | undefined;
    if (head?.source_id !== sourceId || head.source_bundle_id !== sourceBundleId) return undefined;
    const rows = this.#prepare(
      'SELECT tbl, pk, op, base_version, base, row FROM ferry_inflight',
    ).all() as {
      tbl: string;
      pk: PrimaryKey;
      op: string;
      base_version: number | null;
      base: string | null;
      row: string | null;
    }[];
    const out = new Map<string, FrozenBase>();
    for (const r of rows) {
      out.set(rowKey(r.tbl, this.#pkOf(r.tbl, r.pk)), {
        op: r.op,
        baseVersion: r.base_version,
        base: r.base === null ? null : (JSON.parse(r.base) as Row),
        row: r.row,
      });
    }
    return out;
  }

  /** `PRAGMA integrity_check` of the file. */
  integrityCheck(): string {
    const result = this.#db.pragma('integrity_check') as { integrity_check: string }[];
    return result.map((r) => r.integrity_check).join('; ');
  }

  close(): void {
    if (this.#db.open) this.#db.close();
  }

  #pkOf(table: string, pk: PrimaryKey): PrimaryKey {
    const t = this.#schema.table(table);
    const column = t?.column(t.primaryKey);
    return column ? (fromSqliteValue(column.type, pk) as PrimaryKey) : pk;
  }
}

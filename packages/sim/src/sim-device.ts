import Database from 'better-sqlite3';
import {
  createClient,
  HOOK_POINTS,
  type ClientOptions,
  type Clock,
  type FerryClient,
  type HookPoint,
  type ManualClock,
  type SqliteDriver,
} from '@ferry/client';
import { betterSqlite3Driver } from '@ferry/client/better-sqlite3';
import type { Schema, SchemaHistory } from '@ferry/protocol';
import { OperationCounter, never, type Gate } from './gates.js';
import type { LocalInspector } from './local-inspector.js';
import type { WriteRecord } from './write-ledger.js';

/**
 * Hook points that are not inside a transaction: a client may be held there while others run
 * (a hold inside a transaction would hold the client's database lock). Every point can crash.
 */
export const PAUSABLE_POINTS: readonly HookPoint[] = [
  'after-local-commit',
  'after-freeze-before-send',
  'after-server-commit-before-response',
  'after-response-before-local-ack',
  'during-hydration-download',
];

/** Every hook point, for crashes. */
export const CRASH_POINTS: readonly HookPoint[] = HOOK_POINTS.filter(
  // A crash is armed on a running client; a file migrates while its client opens (the crash
  // tests of the client's migration kill it there).
  (point) => point !== 'during-local-migration',
);

/** One simulated install: a user's device with its own SQLite file and source id. */
export class SimDevice {
  readonly name: string;
  readonly userId: string;
  /** Prefix of every text value this user's devices write. */
  readonly tag: string;
  readonly sourceId: string;
  readonly path: string;
  readonly initialSync: 'hydrate' | 'pull';
  /** The running client, or null while the device is down after a crash. */
  inc: Incarnation | null = null;
  offline = false;
  /** The highest checkpoint seen in the file. */
  lastCheckpoint: number | null = null;
  inspector: LocalInspector | null = null;
  /** Writes that were running when the client crashed: found committed or not on reopen. */
  orphans: WriteRecord[] = [];
  /** A sync finished since the last check of the file. */
  needsCheck = false;
  /** A backup of the file (what an OS or a user's backup tool kept), to be restored later. */
  backup: {
    readonly path: string;
    readonly step: number;
    readonly writeSeq: number;
    /** The schema version of the file it holds. */
    readonly version: number;
  } | null = null;
  /**
   * The server was restored from a backup since the device last showed a checkpoint of the
   * server's current history: its file follows a history the server no longer has, until it
   * finds out and hydrates (the checks that compare it with the server wait until then).
   */
  diverged = false;
  incarnations = 0;
  /** The schema version the app runs (the upgrade workload moves it to the next one). */
  version: number;
  /** The schema version `inspector` reads the file as. */
  inspectorVersion: number;
  /** The step at which its app was updated (null: never). */
  upgradedAt: number | null = null;

  constructor(init: {
    name: string;
    userId: string;
    tag: string;
    sourceId: string;
    path: string;
    initialSync: 'hydrate' | 'pull';
    version: number;
  }) {
    this.version = init.version;
    this.inspectorVersion = init.version;
    this.name = init.name;
    this.userId = init.userId;
    this.tag = init.tag;
    this.sourceId = init.sourceId;
    this.path = init.path;
    this.initialSync = init.initialSync;
  }

  /** The running incarnation, unless it is dead or the device is down. */
  get live(): Incarnation | null {
    return this.inc && !this.inc.dead ? this.inc : null;
  }
}

/**
 * One run of a device's client process, from open to crash (or the end). A crash makes every
 * later driver call and hook of the incarnation wait forever, exactly like a process that
 * stopped at that await: nothing after it runs, and the simulator then closes the SQLite
 * connection, which rolls back the transaction that was open.
 */
export class Incarnation {
  readonly id: number;
  readonly device: SimDevice;
  readonly raw: Database.Database;
  readonly ops = new OperationCounter();
  readonly hooked: boolean;
  readonly skewMs: number;
  readonly pauseAt = new Set<HookPoint>();
  readonly paused: { readonly point: HookPoint; readonly gate: Gate<void> }[] = [];
  client!: FerryClient;
  dead = false;
  deathReason = '';
  cleaned = false;
  syncRunning = false;
  driverCalls = 0;
  crashAtCall: number | null = null;
  crashAtHook: { point: HookPoint; skip: number } | null = null;
  readonly #onCrash: (inc: Incarnation, reason: string) => void;
  readonly #onExit = new Set<() => void>();
  /** Called on every await point of the client (driver calls, hooks, timers). */
  readonly activity: () => void;

  constructor(init: {
    id: number;
    device: SimDevice;
    raw: Database.Database;
    hooked: boolean;
    skewMs: number;
    onCrash: (inc: Incarnation, reason: string) => void;
    activity: () => void;
  }) {
    this.id = init.id;
    this.device = init.device;
    this.raw = init.raw;
    this.hooked = init.hooked;
    this.skewMs = init.skewMs;
    this.#onCrash = init.onCrash;
    this.activity = init.activity;
  }

  /**
   * Runs `release` when the incarnation's process is gone (it crashed), unless the returned
   * function was called first. What the simulator attached to the client's objects for this
   * incarnation detaches then: a listener left on a signal made by `AbortSignal.any` keeps that
   * signal, and all the listener reaches, alive to the end of the process.
   */
  onExit(release: () => void): () => void {
    if (this.dead) {
      release();
      return () => undefined;
    }
    this.#onExit.add(release);
    return () => this.#onExit.delete(release);
  }

  /** Kills the incarnation where it stands (idempotent). */
  crash(reason: string): void {
    if (this.dead) return;
    this.dead = true;
    this.deathReason = reason;
    for (const release of this.#onExit) release();
    this.#onExit.clear();
    this.#onCrash(this, reason);
  }

  /** The hook of the client: crashes or holds the client at armed points. */
  at(point: HookPoint): Promise<void> | void {
    if (this.dead) return never();
    this.activity();
    const armed = this.crashAtHook;
    if (armed && armed.point === point) {
      if (armed.skip <= 0) {
        this.crash(`at ${point}`);
        return never();
      }
      armed.skip--;
    }
    if (this.pauseAt.has(point)) {
      this.pauseAt.delete(point);
      const gate = this.ops.gate<void>();
      this.paused.push({ point, gate });
      return gate.promise;
    }
  }

  /** Wraps the driver: every call is an await point where an armed crash can strike. */
  wrapDriver(inner: SqliteDriver): SqliteDriver {
    const guard = <T>(label: string, call: () => Promise<T>): Promise<T> => {
      if (this.dead) return never();
      this.activity();
      this.driverCalls++;
      if (this.crashAtCall !== null && this.driverCalls >= this.crashAtCall) {
        this.crash(
          `before driver call ${this.driverCalls} (${label.replace(/\s+/g, ' ').slice(0, 48)})`,
        );
        return never();
      }
      return call();
    };
    return {
      run: (sql, params) => guard(sql, () => inner.run(sql, params)),
      all: (sql, params) => guard(sql, () => inner.all(sql, params)),
      exec: (sql) => guard(sql, () => inner.exec(sql)),
      batch: (statements) => guard(`batch of ${statements.length}`, () => inner.batch(statements)),
      close: () => inner.close(),
    };
  }

  /**
   * The device's clock: the simulation's virtual time, off by the device's skew. Timers of a
   * crashed incarnation never fire (its process is gone).
   */
  clockOf(base: ManualClock): Clock {
    const skew = this.skewMs;
    return {
      now: () => base.now() + skew,
      setTimer: (when, callback) => {
        this.activity();
        return base.setTimer('at' in when ? { at: when.at - skew } : when, () => {
          if (this.dead) return;
          this.activity();
          callback();
        });
      },
      clearTimer: (id) => {
        this.activity();
        base.clearTimer(id);
      },
    };
  }
}

/** What {@link openIncarnation} needs besides the device. */
export interface IncarnationSetup {
  readonly id: number;
  /** The schema the app runs, or the history that ends with it (the client migrates its file). */
  readonly schema: Schema;
  readonly history?: SchemaHistory | undefined;
  readonly hooked: boolean;
  readonly skewMs: number;
  readonly clock: ManualClock;
  readonly fetchFor: (inc: Incarnation) => typeof fetch;
  /** The user's bearer token; a forced refresh asks for the next one. */
  readonly token: (refresh: boolean) => string;
  /** Options chosen for the run (scheduler, limits, resolvers, …). */
  readonly clientOptions: (inc: Incarnation) => Partial<ClientOptions>;
  readonly onCrash: (inc: Incarnation, reason: string) => void;
  readonly activity: () => void;
}

/** Opens the device's file (a fresh process start) and creates its client. */
export async function openIncarnation(
  device: SimDevice,
  setup: IncarnationSetup,
): Promise<Incarnation> {
  const raw = new Database(device.path);
  raw.pragma('journal_mode = WAL');
  raw.pragma('synchronous = NORMAL');
  const inc = new Incarnation({
    id: setup.id,
    device,
    raw,
    hooked: setup.hooked,
    skewMs: setup.skewMs,
    onCrash: setup.onCrash,
    activity: setup.activity,
  });
  try {
    inc.client = await createClient({
      ...setup.clientOptions(inc),
      schema: setup.schema,
      ...(setup.history ? { history: setup.history } : {}),
      driver: inc.wrapDriver(betterSqlite3Driver(raw)),
      url: 'http://ferry.sim',
      getToken: (options) => setup.token(options?.forceRefresh === true),
      fetch: setup.fetchFor(inc),
      clock: inc.clockOf(setup.clock),
      sourceId: device.sourceId,
      initialSync: device.initialSync,
      ...(setup.hooked ? { hooks: { at: (point: HookPoint) => inc.at(point) } } : {}),
    });
  } catch (error) {
    raw.close();
    throw error;
  }
  device.inc = inc;
  device.incarnations++;
  return inc;
}

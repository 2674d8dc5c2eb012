import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createManualClock,
  type ClientOptions,
  type LogEntry,
  type ManualClock,
  type SyncKind,
  type SyncReport,
} from '@ferry/client';
import {
  isFerryError,
  planMigration,
  schemaHistory,
  type BuiltinConflictPolicy,
  type Change,
  type PrimaryKey,
  type Row,
  type Schema,
} from '@ferry/protocol';
import { emptyFaultCounts, type FaultKind } from './fault-kinds.js';
import { LocalInspector, type LocalState } from './local-inspector.js';
import { createSeededRandom, type SeededRandom } from './seeded-random.js';
import { ServerModel, rowKey, type ModelBackup } from './server-model.js';
import {
  CRASH_POINTS,
  PAUSABLE_POINTS,
  SimDevice,
  openIncarnation,
  type Incarnation,
} from './sim-device.js';
import { DEFAULT_NETWORK_FAULTS, SimNetwork, type NetworkFaultRates } from './sim-network.js';
import { SimServer, tokenFor } from './sim-server.js';
import { checkClientFile, lagBehind } from './check-client-file.js';
import type {
  IdentityWorkload,
  InvariantId,
  SimulationOptions,
  SimulationResult,
  Violation,
} from './simulation-types.js';
import { jsonEqual, rowsEqual, stableJson } from './stable-json.js';
import { Trace } from './trace.js';
import { installVirtualDate } from './virtual-date.js';
import { withTallies } from './tallies.js';
import { DEFAULT_WRITE_MIX, Workload, type WriteChange } from './workload.js';
import { WriteLedger, type WriteRecord } from './write-ledger.js';

/**
 * Runs one seeded simulation: the real client engine (several devices, each with its own
 * SQLite file) and the real server with its SQLite store in this process, connected by a
 * simulated network; a random workload with faults (lost and duplicated messages, cut answers,
 * crashes at await points, server restarts, clock skew, history pruning), then a quiet phase;
 * every server answer checked against an oracle, every client checked along the way, and the
 * end state checked for convergence, lost writes and resurrections.
 *
 * Deterministic: no real time, timers or randomness reach the simulated world (the global
 * `Date` reads the virtual clock during the run), so a seed replays exactly; compare
 * `traceHash` of two runs.
 *
 * @example
 * const result = await runSimulation({ schema: todoSchema, seed: 42 });
 * if (!result.ok) console.log(result.violations, result.trace.join('\n'));
 */
export async function runSimulation<S extends Schema>(
  options: SimulationOptions<S>,
): Promise<SimulationResult> {
  return new Simulation(options).run();
}

const START_TIME = Date.UTC(2026, 0, 1, 8, 0, 0);
const DAY_MS = 86_400_000;
const SETTLE_SPINS = 500_000;
/** Microtask turns without any await point that count as quiet (scheduler mode). */
const QUIET_HOPS = 64;
const QUIET_ROUNDS = 5;
/** Invariant j: requests a device may send in any hour of an outage (default circuit). */
const OUTAGE_REQUESTS_PER_HOUR = 20;
/** Invariant j: how soon a device catches up once the server is back and it is told so. */
const CATCH_UP_MS = 2 * 60_000;
/** The same after false evidence during the outage: the backoff cap (15 min) and a little. */
const CATCH_UP_AFTER_STORM_MS = 17 * 60_000;

/** The kinds of identity workloads. */
type IdentityKind = 'copy' | 'client-restore' | 'server-restore' | 'long-outage';
const EXPECTED_SYNC_ERRORS = new Set([
  'network',
  'aborted',
  'timeout',
  'bad_response',
  'unauthorized',
  'unavailable',
  'history_pruned',
  'cursor_unknown',
]);

type Action =
  | 'deliver'
  | 'write'
  | 'sync'
  | 'resume'
  | 'pause'
  | 'crash'
  | 'reopen'
  | 'offline'
  | 'restart'
  | 'down'
  | 'up'
  | 'backend'
  | 'prune'
  | 'app'
  | 'idle'
  | 'tick';

class Simulation {
  readonly #options: SimulationOptions;
  readonly #schema: Schema;
  readonly #random: SeededRandom;
  readonly #trace: Trace;
  readonly #faults = emptyFaultCounts();
  readonly #violations: Violation[] = [];
  readonly #model: ServerModel;
  readonly #ledger = new WriteLedger();
  /** The workload of each schema version: a device writes the columns its version knows. */
  readonly #workloads = new Map<number, Workload>();
  readonly #faultsEnabled: boolean;
  readonly #stats: Record<string, number> = {};
  readonly #config: Record<string, unknown> = {};
  readonly #devices: SimDevice[] = [];
  readonly #users: readonly string[];
  readonly #policies: Record<string, BuiltinConflictPolicy> = {};
  #dir = '';
  #ownDir = false;
  #server!: SimServer;
  #network!: SimNetwork;
  #clientOptions: Partial<ClientOptions> = {};
  #step = 0;
  readonly #clock: ManualClock = createManualClock(START_TIME);
  #activity = 0;
  #scheduler = false;
  readonly #tokens = new Map<string, number>();
  #operations = 0;
  #nextOp = 0;
  #nextInc = 0;
  #started = 0;
  /** Draws of the identity workloads, apart from every other draw (see `options.identity`). */
  readonly #extra: SeededRandom;
  #identity = false;
  /** The workload the options asked to make sure of, and when (steps). */
  #forced: {
    readonly workload: IdentityWorkload | 'client-restore-now' | 'server-restore-now';
    readonly at: number;
  } | null = null;
  /** The default circuit (threshold 5, 30 min cool-down): the outage bound applies. */
  #defaultCircuit = false;
  #copies = 0;
  #outages = 0;
  #serverRestores = 0;
  #clientRestores = 0;
  /**
   * The upgrade workload of the seed (`options.upgrade`): after how many operations the server
   * migrates, and each device that updates its app (the others keep the old version).
   */
  #upgrades: {
    readonly schema: Schema;
    server: number | null;
    readonly devices: Map<string, number>;
    readonly draws: SeededRandom;
  } | null = null;
  /** The seed runs the counter workload (`options.counters`). */
  readonly #counters: boolean;
  /** The step at which the server migrated to the upgrade (null: not yet). */
  #serverMigratedAt: number | null = null;
  /** The one kind of identity workload of a seed that did not ask for any (null: every kind). */
  #only: IdentityKind | null = null;
  #serverBackup: {
    readonly model: ModelBackup;
    readonly path: string;
    readonly step: number;
  } | null = null;

  constructor(options: SimulationOptions) {
    // The counter workload is drawn from its own random, so a seed without it runs as before.
    this.#counters =
      options.counters ?? createSeededRandom((options.seed ^ 0x27d4eb2d) >>> 0).chance(1 / 3);
    if (this.#counters) {
      options = {
        ...options,
        schema: withTallies(options.schema),
        ...(options.upgrade === undefined ? {} : { upgrade: withTallies(options.upgrade) }),
      };
    }
    this.#options = options;
    this.#schema = options.schema;
    this.#random = createSeededRandom(options.seed);
    this.#extra = createSeededRandom((options.seed ^ 0x5bd1e995) >>> 0);
    this.#trace = new Trace({ keep: options.traceLines ?? 120, full: options.fullTrace ?? false });
    this.#model = new ServerModel(options.schema);
    for (const schema of [options.schema, options.upgrade]) {
      if (schema === undefined) continue;
      this.#workloads.set(
        schema.version,
        new Workload(schema, { ...DEFAULT_WRITE_MIX, ...options.writeMix }),
      );
    }
    this.#faultsEnabled = options.faults !== false;
    this.#users = options.users ?? ['alice', 'bob'];
  }

  get #ok(): boolean {
    return this.#violations.length === 0;
  }

  async run(): Promise<SimulationResult> {
    this.#started = performance.now();
    const restoreDate = installVirtualDate(() => this.#clock.now());
    try {
      try {
        await this.#setUp();
        await this.#faultyPhase();
        if (this.#ok) await this.#quietPhase();
        if (this.#ok) await this.#finalChecks();
      } catch (error) {
        this.#violation('error', `the simulation stopped: ${describeError(error)}`);
      }
      await this.#tearDown();
    } finally {
      restoreDate();
    }
    return {
      seed: this.#options.seed,
      ok: this.#ok,
      violations: [...this.#violations],
      operations: this.#operations,
      steps: this.#step,
      faults: { ...this.#faults },
      stats: { ...this.#stats },
      trace: this.#trace.all() ?? this.#trace.tail(),
      traceHash: this.#trace.digest(),
      config: { ...this.#config },
      wallMs: Math.round(performance.now() - this.#started),
    };
  }

  // ---- set-up and tear-down ---------------------------------------------------------------

  async #setUp(): Promise<void> {
    const random = this.#random;
    if (this.#options.dir) this.#dir = this.#options.dir;
    else {
      // SQLite files in memory-backed storage where there is one: the run does not need disks.
      const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
      this.#dir = mkdtempSync(join(base, 'ferry-sim-'));
      this.#ownDir = true;
    }
    const count = this.#options.clients ?? random.int(3, 5);
    const users = this.#users;
    for (const table of this.#schema.tables) {
      this.#policies[table.name] =
        this.#options.resolvers === 'schema'
          ? (table.conflictPolicy as BuiltinConflictPolicy)
          : random.weighted({ 'field-merge': 4, 'server-wins': 2, 'client-wins': 2, manual: 1 });
    }
    const unsafeClient = this.#options.unsafeFaults?.client;
    const mode = this.#options.mode ?? 'mixed';
    this.#scheduler = mode === 'scheduler' || (mode === 'mixed' && random.chance(0.5));
    this.#clientOptions = {
      pullLimit: random.int(2, 40),
      limits: { maxChanges: random.int(2, 30) },
      maxConflictRetries: random.int(1, 3),
      resolvers: this.#options.resolvers === 'schema' ? {} : { ...this.#policies },
      requestTimeoutMs: random.int(5_000, 30_000),
      autoSync: this.#scheduler
        ? {
            debounceMs: random.int(0, 3_000),
            maxWaitMs: random.int(3_000, 10_000),
            minIntervalMs: random.int(0, 2_000),
            foregroundIntervalMs: random.int(5_000, 30_000),
            circuitThreshold: random.int(3, 6),
            circuitCoolDownMs: random.int(30_000, 5 * 60_000),
          }
        : false,
      realtime: false,
      ...(unsafeClient ? { __unsafeFaults: unsafeClient } : {}),
    };
    const asked = this.#options.identity;
    this.#identity = this.#faultsEnabled && (asked ?? this.#extra.chance(0.5)) !== false;
    if (this.#identity && asked === undefined) {
      // By default one kind of workload a seed, so that each is seen alone often.
      this.#only = this.#extra.pick<IdentityKind>(
        this.#scheduler
          ? ['copy', 'client-restore', 'server-restore', 'long-outage']
          : ['copy', 'client-restore', 'server-restore'],
      );
    }
    if (this.#identity && typeof asked === 'string') {
      this.#forced = { workload: asked, at: this.#extra.int(20, 60) };
    }
    const autoSync = this.#clientOptions.autoSync;
    const forcedOutage = this.#forced?.workload === 'long-outage';
    if (
      this.#identity &&
      typeof autoSync === 'object' &&
      (forcedOutage || this.#extra.chance(0.5))
    ) {
      this.#defaultCircuit = true;
      this.#clientOptions = {
        ...this.#clientOptions,
        autoSync: { ...autoSync, circuitThreshold: 5, circuitCoolDownMs: 30 * 60_000 },
      };
    }
    if (this.#options.unsafeFaults?.noCircuitBreaker && typeof autoSync === 'object') {
      this.#clientOptions = {
        ...this.#clientOptions,
        autoSync: {
          ...(this.#clientOptions.autoSync as object),
          circuitThreshold: 1_000_000,
          backoff: { capMs: 60_000 },
        },
      };
    }
    this.#planUpgrades();
    const retention = random.int(4, 40);
    Object.assign(this.#config, {
      counters: this.#counters,
      upgrade: this.#upgrades
        ? `v${this.#schema.version}→v${this.#upgrades.schema.version} at op ${String(this.#upgrades.server)}`
        : false,
      identity: this.#identity ? (this.#only ?? 'all') : false,
      defaultCircuit: this.#defaultCircuit,
      mode: this.#scheduler ? 'scheduler' : 'explicit',
      clients: count,
      users: [...users],
      policies: { ...this.#policies },
      pullLimit: this.#clientOptions.pullLimit,
      maxChanges: this.#clientOptions.limits?.maxChanges,
      maxConflictRetries: this.#clientOptions.maxConflictRetries,
      retentionBundles: retention,
    });
    this.#server = new SimServer({
      schema: this.#schema,
      path: join(this.#dir, 'server.db'),
      model: this.#model,
      ledger: this.#ledger,
      retentionBundles: retention,
      upgrade: this.#upgrades?.schema,
      unsafe: this.#options.unsafeFaults?.server,
      hooks: {
        step: () => this.#step,
        now: () => this.#clock.now(),
        violation: (message) => this.#violation(classifyOracle(message), message),
        frozenBases: (name, sourceId, sourceBundleId) => {
          const device = this.#devices.find((d) => d.name === name);
          return device?.inspector?.frozenBases(sourceId, sourceBundleId);
        },
        diverged: (name) => {
          const device = this.#devices.find((d) => d.name === name);
          if (!device?.inspector || this.#serverRestores === 0) return false;
          return !this.#onHistory(device, device.inspector.read());
        },
      },
    });
    await this.#server.start();
    const rates: NetworkFaultRates = {
      ...DEFAULT_NETWORK_FAULTS,
      ...(this.#options.faults === false ? {} : this.#options.faults),
    };
    this.#network = new SimNetwork(
      this.#server,
      random.fork('network'),
      rates,
      {
        trace: (line) => this.#log(line),
        fault: (kind) => this.#fault(kind),
      },
      this.#options.unsafeFaults?.network,
    );
    this.#network.faultsOn = this.#faultsEnabled;
    for (let i = 0; i < count; i++) {
      const userIndex = i < users.length ? i : random.int(0, users.length - 1);
      const userId = users[userIndex]!;
      const device = new SimDevice({
        name: `d${i + 1}`,
        userId,
        tag: `U${userIndex}`,
        sourceId: random.uuid(),
        path: join(this.#dir, `d${i + 1}.db`),
        initialSync: random.chance(0.3) ? 'pull' : 'hydrate',
        version: this.#schema.version,
      });
      this.#devices.push(device);
    }
    this.#log(
      `seed ${this.#options.seed} (${this.#scheduler ? 'scheduler' : 'explicit'} sync): ${count} devices (${this.#devices.map((d) => `${d.name}=${d.userId}/${d.sourceId.slice(0, 8)}`).join(' ')}), ` +
        `policies ${stableJson(this.#policies)}, pullLimit ${String(this.#clientOptions.pullLimit)}, ` +
        `maxChanges ${String(this.#clientOptions.limits?.maxChanges)}, retention ${retention}`,
    );
    for (const device of this.#devices) {
      await this.#open(device, 0);
      device.inspector = new LocalInspector(device.path, this.#schema);
    }
    if (this.#upgrades) {
      const budget = this.#options.operations ?? 300;
      for (const device of this.#devices) {
        const draws = this.#upgrades.draws;
        if (draws.chance(0.7)) this.#upgrades.devices.set(device.name, draws.int(1, budget - 1));
      }
      const at = [...this.#upgrades.devices].map(([name, op]) => `${name} at op ${op}`);
      this.#log(
        `upgrade to v${this.#upgrades.schema.version}: the server at op ${String(this.#upgrades.server)}; ${at.length > 0 ? at.join(', ') : 'no device'}`,
      );
    }
  }

  /**
   * Draws the upgrade workload (`options.upgrade`), from its own random: when the server
   * migrates and which devices update (each at its own time, before or after the server).
   */
  #planUpgrades(): void {
    const upgrade = this.#options.upgrade;
    if (upgrade === undefined || this.#options.upgrades === false) return;
    const draws = createSeededRandom((this.#options.seed ^ 0x2545f491) >>> 0);
    const wanted = this.#options.upgrades ?? draws.chance(1 / 3);
    // Not with restores of the server (see #identityStep): a seed that draws them keeps them.
    const restores = this.#identity && (this.#only === null || this.#only === 'server-restore');
    const forcedRestore =
      this.#forced?.workload === 'server-restore' || this.#options.identity === true;
    if (!wanted || forcedRestore || (restores && this.#options.upgrades !== true)) return;
    const plan = planMigration(this.#schema, upgrade);
    const additive =
      plan.ok && plan.steps.every((s) => s.kind === 'add-column' || s.kind === 'add-index');
    if (!additive || upgrade.version <= this.#schema.version) {
      throw new Error(
        `options.upgrade must be a later version of the schema that adds columns or indexes only`,
      );
    }
    const budget = this.#options.operations ?? 300;
    this.#upgrades = {
      schema: upgrade,
      server: draws.int(Math.floor(budget / 5), Math.floor((budget * 4) / 5)),
      devices: new Map(),
      draws,
    };
  }

  /** The schema a device's app runs. */
  #schemaOf(device: { readonly version: number }): Schema {
    return device.version === this.#schema.version ? this.#schema : this.#upgrades!.schema;
  }

  /** The upgrade workload's moves due after this operation: the server's deploy, app updates. */
  async #upgradeStep(): Promise<void> {
    const plan = this.#upgrades;
    if (plan === null) return;
    if (plan.server !== null && this.#operations >= plan.server) await this.#migrateServer();
    for (const device of this.#devices) {
      const at = plan.devices.get(device.name);
      if (at === undefined || this.#operations < at || device.version === plan.schema.version)
        continue;
      await this.#updateApp(device);
      if (!this.#ok) return;
    }
  }

  /** The server is deployed with the next version and migrates its database on start. */
  async #migrateServer(): Promise<void> {
    const plan = this.#upgrades!;
    plan.server = null;
    this.#serverMigratedAt = this.#step;
    this.#fault('server-migration');
    await this.#server.migrate();
    this.#log(`the server is deployed with v${plan.schema.version} and migrates its database`);
  }

  /**
   * The app on `device` is updated to the next version: its process stops, and the new version
   * opens the file, migrating it. Its pending changes, conflicts and dead letters stay.
   */
  async #updateApp(device: SimDevice): Promise<void> {
    this.#fault('client-upgrade');
    device.live?.crash('for an update of the app');
    await this.#afterStep();
    this.#log(`${device.name}'s app is updated to v${this.#upgrades!.schema.version}`);
    await this.#reopen(device, this.#upgrades!.schema.version);
  }

  async #open(device: SimDevice, skewMs: number): Promise<Incarnation> {
    const schema = this.#schemaOf(device);
    const inc = await openIncarnation(device, {
      id: ++this.#nextInc,
      schema,
      history: schema === this.#schema ? undefined : schemaHistory(this.#schema, schema),
      hooked: this.#faultsEnabled && this.#random.chance(0.75),
      skewMs,
      clock: this.#clock,
      fetchFor: (i) => this.#network.fetchFor(i),
      token: (refresh) => {
        const n = (this.#tokens.get(device.userId) ?? 0) + (refresh ? 1 : 0);
        this.#tokens.set(device.userId, n);
        return tokenFor(device.userId, n);
      },
      clientOptions: (i) => ({
        ...this.#clientOptions,
        // A rotated source id is random in life; here it comes from the seed, apart from the
        // run's other draws.
        createSourceId: () => this.#extra.fork(`${device.name}/${i.id}/source`).uuid(),
        onLog: (entry: LogEntry) => this.#clientLog(device, entry),
        ...(this.#scheduler
          ? {
              random: this.#random.fork(`${device.name}/${i.id}`).next,
              onError: (error) => this.#scheduledError(device, error),
            }
          : {}),
      }),
      onCrash: (i, reason) => {
        this.#fault('client-crash');
        this.#log(`${i.device.name} CRASHES ${reason}`);
      },
      activity: () => {
        this.#activity++;
      },
    });
    this.#log(
      `${device.name} starts (incarnation ${inc.id}${inc.hooked ? ', hooked' : ''}${skewMs ? `, clock ${skewMs > 0 ? '+' : ''}${(skewMs / 3_600_000).toFixed(1)} h` : ''})`,
    );
    return inc;
  }

  async #tearDown(): Promise<void> {
    for (const device of this.#devices) {
      const inc = device.inc;
      // A client held at a hook (a cycle of its scheduler waiting for the simulator) could not
      // finish closing: it is stopped like the rest.
      const held = inc?.paused.some((p) => !p.gate.settled) ?? false;
      if (inc && !inc.dead && inc.ops.running === 0 && !held) {
        await inc.client.close().catch(() => undefined);
        inc.raw.close();
      } else if (inc && !inc.cleaned) {
        // Something still waits on the simulator: stop the process instead of closing it.
        inc.crash('at the end of the run');
        inc.cleaned = true;
        inc.raw.close();
      }
      device.inspector?.close();
    }
    await this.#server.close().catch(() => undefined);
    const keep = this.#options.keepFiles ?? (!this.#ok && !this.#ownDir);
    if (!keep) rmSync(this.#dir, { recursive: true, force: true });
  }

  // ---- the faulty phase -------------------------------------------------------------------

  async #faultyPhase(): Promise<void> {
    const budget = this.#options.operations ?? 300;
    while (this.#operations < budget && this.#ok) {
      this.#step++;
      await this.#advance(this.#random.int(0, 250));
      await this.#act(this.#chooseAction());
      if (this.#identity && this.#ok) await this.#identityStep();
      if (this.#upgrades && this.#ok) await this.#upgradeStep();
      await this.#afterStep();
    }
  }

  // ---- copies, backups and outages (options.identity) ------------------------------------

  /** Now and then, one of the identity workloads; every draw from `#extra`. */
  async #identityStep(): Promise<void> {
    const extra = this.#extra;
    const withFile = this.#devices.filter((d) => d.inspector !== null);
    const forced = this.#forced;
    if (forced !== null && this.#step >= forced.at) {
      this.#forced = null;
      switch (forced.workload) {
        case 'copy':
          if (withFile.length > 0) await this.#copyDevice(extra.pick(withFile));
          return;
        case 'client-restore':
          if (withFile.length > 0) this.#backupDevice(extra.pick(withFile));
          this.#forced = { workload: 'client-restore-now', at: this.#step + extra.int(40, 120) };
          return;
        case 'client-restore-now': {
          const backedUp = this.#devices.filter((d) => d.backup !== null);
          if (backedUp.length > 0) await this.#restoreDevice(extra.pick(backedUp));
          return;
        }
        case 'server-restore':
          this.#backupServer();
          this.#forced = { workload: 'server-restore-now', at: this.#step + extra.int(40, 120) };
          return;
        case 'server-restore-now':
          if (this.#serverBackup !== null) await this.#restoreServer();
          return;
        case 'long-outage':
          if (this.#scheduler && !this.#server.down) await this.#longOutage();
          return;
      }
    }
    const only = this.#only;
    // A server restored from a backup would go back to a version its code migrated past: the
    // upgrade workload runs without server restores.
    const allowed = (kind: IdentityKind) =>
      (only === null || only === kind) && !(kind === 'server-restore' && this.#upgrades !== null);
    const action = extra.weighted({
      none: 1000,
      copy:
        allowed('copy') && this.#copies < 1 && this.#devices.length < 6 && withFile.length > 0
          ? 4
          : 0,
      'backup-client': allowed('client-restore') && withFile.length > 0 ? 6 : 0,
      'restore-client':
        allowed('client-restore') &&
        this.#clientRestores < 2 &&
        this.#devices.some((d) => d.backup !== null)
          ? 4
          : 0,
      'backup-server': allowed('server-restore') && this.#serverBackup === null ? 4 : 0,
      'restore-server':
        allowed('server-restore') && this.#serverBackup !== null && this.#serverRestores < 1
          ? 4
          : 0,
      'long-outage':
        allowed('long-outage') && this.#scheduler && this.#outages < 1 && !this.#server.down
          ? 3
          : 0,
    });
    switch (action) {
      case 'none':
        return;
      case 'copy':
        await this.#copyDevice(extra.pick(withFile));
        return;
      case 'backup-client':
        this.#backupDevice(extra.pick(withFile));
        return;
      case 'restore-client':
        await this.#restoreDevice(extra.pick(this.#devices.filter((d) => d.backup !== null)));
        return;
      case 'backup-server':
        this.#backupServer();
        return;
      case 'restore-server':
        await this.#restoreServer();
        return;
      case 'long-outage':
        await this.#longOutage();
        return;
    }
  }

  #backupDevice(device: SimDevice): void {
    const path = `${device.path}.backup`;
    rmSync(path, { force: true });
    device.inspector!.copyTo(path);
    device.backup = {
      path,
      step: this.#step,
      writeSeq: this.#ledger.backupMark(device.name),
      version: device.inspectorVersion,
    };
    this.#log(`${device.name}'s file is backed up`);
  }

  #backupServer(): void {
    const path = join(this.#dir, 'server.db.backup');
    rmSync(path, { force: true });
    this.#server.copyTo(path);
    this.#serverBackup = { model: this.#model.backup(), path, step: this.#step };
    this.#log('the server database is backed up');
  }

  /** A new device starts from a copy of `from`'s file: two installs with one source id. */
  async #copyDevice(from: SimDevice): Promise<void> {
    this.#copies++;
    this.#fault('copied-file');
    const name = `d${this.#devices.length + 1}`;
    const path = join(this.#dir, `${name}.db`);
    from.inspector!.copyTo(path);
    const device = new SimDevice({
      name,
      userId: from.userId,
      tag: from.tag,
      sourceId: from.sourceId,
      path,
      initialSync: from.initialSync,
      version: from.version,
    });
    device.upgradedAt = from.upgradedAt;
    this.#devices.push(device);
    this.#ledger.inheritWrites(name, from.name);
    this.#log(
      `${name} starts from a copy of ${from.name}'s file (source ${(from.inspector!.read().sourceId ?? '?').slice(0, 8)})`,
    );
    await this.#open(device, 0);
    device.inspector = new LocalInspector(path, this.#schemaOf(device));
  }

  /**
   * `device`'s file is replaced by its backup: the process stops, the file goes back, and what it
   * wrote since the backup is gone from it (writes it had pushed are on the server).
   */
  async #restoreDevice(device: SimDevice): Promise<void> {
    const backup = device.backup!;
    this.#clientRestores++;
    this.#fault('client-restore');
    device.live?.crash('for a restore of its file');
    await this.#afterStep();
    device.inspector?.close();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${device.path}${suffix}`, { force: true });
    copyFileSync(backup.path, device.path);
    this.#ledger.restoredAway(device.name, backup.writeSeq, backup.step);
    device.orphans = [];
    device.lastCheckpoint = null;
    device.inspector = new LocalInspector(device.path, this.#schemaOf(backup));
    device.inspectorVersion = backup.version;
    this.#log(`${device.name}'s file is restored from its backup of step ${backup.step}`);
    await this.#reopen(device);
  }

  /**
   * The operator restores the server's database from its backup: the server stops, the file
   * goes back, the oracle goes back with it; every device now follows a history the server no
   * longer has, until it finds out.
   */
  async #restoreServer(): Promise<void> {
    const backup = this.#serverBackup!;
    this.#serverRestores++;
    this.#fault('server-restore');
    await this.#server.restoreFrom(backup.path);
    this.#model.restore(backup.model, this.#step);
    for (const device of this.#devices) {
      device.diverged = true;
      device.lastCheckpoint = null;
    }
    this.#log(`the server database is restored from its backup of step ${backup.step}`);
  }

  /**
   * (scheduler) The server is down for 35–75 minutes while the devices keep trying, with evidence
   * that it might be back now and then; then it is back and the devices are told so. With the
   * default circuit, no device may send more than {@link OUTAGE_REQUESTS_PER_HOUR} requests in
   * any hour of the outage; and every live device must catch up within 5 minutes (invariant j).
   */
  async #longOutage(): Promise<void> {
    const extra = this.#extra;
    this.#outages++;
    this.#fault('long-outage');
    const minutes = extra.int(35, 75);
    // A storm: evidence now and then although the server is still down (a flapping network).
    // Each trial it starts moves the next one further out (up to the backoff cap), so the
    // device may take that long to notice the server is really back.
    const storm = extra.chance(0.5);
    this.#log(`the server goes down for ${minutes} min${storm ? ', with false evidence' : ''}`);
    this.#server.down = true;
    const perMinute = new Map<string, number[]>();
    for (let minute = 0; minute < minutes && this.#ok; minute++) {
      const before = new Map(this.#network.sent);
      if (storm && extra.chance(0.3)) {
        const live = this.#live();
        if (live.length > 0) {
          const device = extra.pick(live);
          this.#log(`${device.name} is told it is online (the server is still down)`);
          this.#tellOnline(device);
        }
      }
      await this.#passTime(60_000, extra);
      for (const device of this.#devices) {
        const sent = (this.#network.sent.get(device.name) ?? 0) - (before.get(device.name) ?? 0);
        perMinute.set(device.name, [...(perMinute.get(device.name) ?? []), sent]);
      }
    }
    this.#server.down = false;
    this.#log('the server is back after the outage');
    if (this.#defaultCircuit) {
      for (const [name, counts] of perMinute) {
        for (let start = 0; start + 60 <= Math.max(60, counts.length); start++) {
          const inHour = counts.slice(start, start + 60).reduce((a, b) => a + b, 0);
          if (inHour > OUTAGE_REQUESTS_PER_HOUR) {
            this.#violation(
              'outage',
              `${name}: ${inHour} requests in one hour of the server's outage (at most ${OUTAGE_REQUESTS_PER_HOUR} with the default circuit)`,
            );
            break;
          }
        }
      }
    }
    // Catch-up: no faults for a while (no holds, no armed crashes), every device told it is
    // online (what a reconnecting events stream or the platform's online event tells a real one).
    const faultsWere = this.#network.faultsOn;
    this.#network.faultsOn = false;
    for (const device of this.#live()) {
      const inc = device.live!;
      inc.crashAtCall = null;
      inc.crashAtHook = null;
      inc.pauseAt.clear();
      for (const paused of inc.paused) paused.gate.open();
      device.offline = false;
      this.#tellOnline(device);
      // A client whose token refresh did not help stopped and says so: no schedule moves it, the
      // app signs the user in again and asks for a sync (as after the faults stop, below).
      if (inc.client.status.auth === 'failed') {
        this.#log(`${device.name} shows blocked-auth: the app signs in again`);
        this.#syncNow(device);
      }
    }
    // In sync again: a success since the last failure (a device that never noticed the outage
    // still is).
    // (An app updated before the server waits for the deploy, answered schema_ahead.)
    const late = (): string[] =>
      this.#live()
        .filter((d) => d.version <= this.#server.version)
        .filter((d) => d.live!.client.status.inSyncSince === null)
        .map((d) => {
          const status = d.live!.client.status;
          return `${d.name} (state ${status.state}, circuit ${status.circuit})`;
        });
    const limitMs = storm ? CATCH_UP_AFTER_STORM_MS : CATCH_UP_MS;
    // Fine steps, every message delivered at once: the network works again.
    for (let waited = 0; waited < limitMs && late().length > 0 && this.#ok;) {
      const slice = extra.int(100, 1_000);
      await this.#advance(slice);
      waited += slice;
      await this.#afterStep();
      for (let n = this.#network.size; n > 0 && this.#ok; n--) {
        this.#step++;
        await this.#network.deliverNext();
        await this.#afterStep();
      }
    }
    const behind = late();
    if (behind.length > 0 && this.#ok) {
      this.#violation(
        'outage',
        `not caught up ${limitMs / 60_000} min after the server came back and said so: ${behind.join(', ')}`,
      );
    }
    this.#network.faultsOn = faultsWere;
  }

  #onHistory(device: SimDevice, local: LocalState): boolean {
    return (
      local.checkpoint === null ||
      local.checkpoint === 0 ||
      (local.checkpoint <= this.#model.lastSeq(device.userId) &&
        local.checkpointToken !== null &&
        local.checkpointToken === this.#model.tokenAt(device.userId, local.checkpoint))
    );
  }

  /** The app's online signal (unless the negative control leaves it out). */
  #tellOnline(device: SimDevice): void {
    if (this.#options.unsafeFaults?.noOnlineSignal) return;
    device.live?.client.setOnline(true);
  }

  #chooseAction(): Action {
    const live = this.#live();
    const faults = this.#faultsEnabled;
    const queued = this.#network.size;
    return this.#random.weighted<Action>({
      deliver: queued > 0 ? 25 + 4 * Math.min(queued, 10) : 0,
      write: live.length > 0 ? 20 : 0,
      sync: live.some((d) => !d.live!.syncRunning) ? 14 : 0,
      resume: this.#paused().length > 0 ? 10 : 0,
      pause: faults && live.some((d) => d.live!.hooked) ? 2 : 0,
      crash: faults && live.length > 0 ? 1.2 : 0,
      reopen: this.#devices.some((d) => d.inc === null) ? 5 : 0,
      offline: faults && live.length > 0 ? 0.8 : 0,
      restart: faults ? 0.3 : 0,
      down: faults && !this.#server.down ? 0.2 : 0,
      up: this.#server.down ? 4 : 0,
      backend: 1.2,
      prune: faults ? 0.25 : 0,
      app: live.length > 0 ? 1.5 : 0,
      idle: 1.2,
      tick: 1,
    });
  }

  async #act(action: Action): Promise<void> {
    const random = this.#random;
    switch (action) {
      case 'deliver':
        await this.#network.deliverNext();
        return;
      case 'write':
        this.#operations++;
        this.#write(random.pick(this.#live()));
        return;
      case 'sync': {
        this.#operations++;
        const device = random.pick(this.#live().filter((d) => !d.live!.syncRunning));
        if (this.#scheduler && random.chance(0.6)) {
          this.#syncNow(device);
          return;
        }
        const kind = random.weighted<SyncKind>({ full: 70, push: 12, pull: 12, hydrate: 6 });
        this.#sync(device, kind);
        return;
      }
      case 'resume': {
        const paused = random.pick(this.#paused());
        this.#fault('hook-pause');
        this.#log(`${paused.device.name} resumes from ${paused.point}`);
        paused.gate.open();
        return;
      }
      case 'pause': {
        const device = random.pick(this.#live().filter((d) => d.live!.hooked));
        const point = random.pick(PAUSABLE_POINTS);
        device.live!.pauseAt.add(point);
        this.#log(`${device.name} will be held at ${point}`);
        return;
      }
      case 'crash':
        this.#armCrash(random.pick(this.#live()));
        return;
      case 'reopen':
        await this.#reopen(random.pick(this.#devices.filter((d) => d.inc === null)));
        return;
      case 'offline': {
        const device = random.pick(this.#live());
        device.offline = !device.offline;
        this.#log(`${device.name} goes ${device.offline ? 'offline' : 'online'}`);
        if (this.#scheduler && random.chance(0.7)) device.live!.client.setOnline(!device.offline);
        return;
      }
      case 'restart':
        this.#fault('server-restart');
        this.#log('server restarts (its store file is closed and opened again)');
        await this.#server.restart();
        return;
      case 'down':
        this.#fault('server-down');
        this.#server.down = true;
        this.#log('server becomes unreachable');
        return;
      case 'up':
        this.#server.down = false;
        this.#log('server is reachable again');
        return;
      case 'backend': {
        this.#operations++;
        const userIndex = random.int(0, this.#users.length - 1);
        const userId = this.#users[userIndex]!;
        const write = this.#workloads
          .get(this.#server.version)!
          .nextBackendWrite(random, this.#model, userId, `U${userIndex}`);
        if (!write) return;
        const outcome = await this.#server.backendWrite(userId, write.ops);
        this.#count('backend writes');
        this.#log(`backend for ${userId}: ${write.label} → ${outcome}`);
        return;
      }
      case 'prune': {
        this.#fault('history-pruned');
        const deleted = await this.#server.prune();
        this.#log(`server prunes history (${deleted} bundles dropped)`);
        return;
      }
      case 'app': {
        const parked = this.#live().filter((d) => this.#parkedOf(d) > 0);
        if (parked.length === 0) return;
        this.#operations++;
        this.#appSettles(random.pick(parked), true);
        return;
      }
      case 'idle': {
        this.#operations++;
        // With the scheduler, every device works while time passes: keep it to minutes.
        const ms = this.#scheduler
          ? random.int(30_000, 5 * 60_000)
          : random.int(60_000, 6 * 3_600_000);
        this.#log(`time passes: ${(ms / 60_000).toFixed(1)} min`);
        await this.#passTime(ms);
        return;
      }
      case 'tick':
        await this.#advance(random.int(1, 5_000));
        return;
    }
  }

  // ---- operations -------------------------------------------------------------------------

  #write(device: SimDevice): void {
    const inc = device.live!;
    const local = device.inspector!.read();
    const op = this.#workloads
      .get(device.version)!
      .nextWrite(this.#random, local, device.tag, device.userId, this.#model);
    if (!op) {
      this.#log(`${device.name} has nothing to write`);
      return;
    }
    const opId = ++this.#nextOp;
    const flat = flatten(op.changes);
    this.#ledger.begin(opId, device, this.#step, flat);
    this.#log(
      `${device.name} ${op.label}: ${flat
        .filter((c) => !c.implied)
        .map(describeChange)
        .join('; ')} [w${opId}]`,
    );
    const client = inc.client;
    const promise: Promise<unknown> = op.sql
      ? client.execute(op.sql.text, [...op.sql.params])
      : client.write((tx) => {
          for (const change of op.changes) {
            if (change.kind === 'insert') tx.insert(change.table, change.values as never);
            else if (change.kind === 'update')
              tx.update(change.table, change.pk, change.values as never);
            else tx.delete(change.table, change.pk);
          }
        });
    inc.ops.track(promise).then(
      () => {
        this.#ledger.settle(opId, 'durable');
        this.#count('writes');
        this.#log(`${device.name} committed w${opId}`);
      },
      (error: unknown) => {
        this.#ledger.settle(opId, 'failed');
        this.#count('failed writes');
        this.#violation(
          'error',
          `${device.name}: write w${opId} (${op.label}) failed: ${describeError(error)}`,
        );
      },
    );
  }

  #sync(device: SimDevice, kind: SyncKind): void {
    const inc = device.live!;
    inc.syncRunning = true;
    this.#log(`${device.name} starts a ${kind} sync`);
    const promise = kind === 'hydrate' ? inc.client.hydrate() : inc.client.sync({ kind });
    inc.ops.track(promise).then(
      (report) => {
        inc.syncRunning = false;
        device.needsCheck = true;
        this.#count('syncs');
        this.#log(`${device.name} ${kind} sync done: ${describeReport(report)}`);
      },
      (error: unknown) => {
        inc.syncRunning = false;
        device.needsCheck = true;
        const code = isFerryError(error) ? error.code : 'thrown';
        this.#count(`sync failed: ${code}`);
        this.#log(`${device.name} ${kind} sync failed: ${describeError(error)}`);
        if (this.#scheduler) return; // onError saw it
        if (code === 'integrity_violation') {
          this.#violation(
            'integrity',
            `${device.name}: the integrity gate refused server data: ${describeError(error)}`,
          );
        } else if (!this.#expectedError(device, code)) {
          this.#violation(
            'error',
            `${device.name}: a ${kind} sync failed unexpectedly: ${describeError(error)}`,
          );
        }
      },
    );
  }

  /** `syncNow()`: the scheduler runs a cycle at once (errors reach `onError`). */
  #syncNow(device: SimDevice): void {
    const inc = device.live!;
    inc.syncRunning = true;
    this.#log(`${device.name} asks for sync now`);
    inc.ops.track(inc.client.syncNow()).then(
      (result) => {
        inc.syncRunning = false;
        device.needsCheck = true;
        this.#count(result.ok ? 'syncs' : 'sync-now not ok');
        this.#log(
          `${device.name} sync now: ${result.ok ? 'ok' : `not ok (${result.status.state})`}`,
        );
      },
      (error: unknown) => {
        inc.syncRunning = false;
        this.#violation('error', `${device.name}: syncNow() rejected: ${describeError(error)}`);
      },
    );
  }

  /**
   * Whether a sync may fail with `code`: faults of the network and the server's history, and
   * `schema_ahead` for an app updated before the server was (its requests may still be answered
   * by the old server after the deploy: they were on the way).
   */
  #expectedError(device: SimDevice, code: string): boolean {
    if (EXPECTED_SYNC_ERRORS.has(code)) return true;
    if (code !== 'schema_ahead' || device.upgradedAt === null) return false;
    return this.#serverMigratedAt === null || this.#serverMigratedAt > device.upgradedAt;
  }

  /** Errors of the scheduler's cycles (and of explicit ones, with the scheduler on). */
  #scheduledError(device: SimDevice, error: { code: string; message: string }): void {
    if (device.inc?.dead) return;
    device.needsCheck = true;
    if (error.code === 'integrity_violation') {
      this.#violation(
        'integrity',
        `${device.name}: the integrity gate refused server data: ${error.message}`,
      );
    } else if (
      !this.#expectedError(device, error.code) &&
      error.code !== 'aborted' &&
      error.code !== 'closed'
    ) {
      this.#violation(
        'error',
        `${device.name}: a sync failed unexpectedly: ${error.code}: ${error.message}`,
      );
    }
  }

  /** The app looks at its dead letters and conflicts and decides about one (or all). */
  #appSettles(device: SimDevice, randomChoice: boolean): void {
    const inc = device.live!;
    const client = inc.client;
    const random = this.#random;
    const run = async () => {
      const conflicts = await client.conflicts();
      const letters = await client.deadLetters();
      for (const c of conflicts)
        this.#ledger.recordEvent(device.name, c.table, c.pk, this.#step, 'seen-conflict');
      for (const d of letters)
        this.#ledger.recordEvent(device.name, d.table, d.pk, this.#step, 'seen-dead');
      const all = [
        ...conflicts.map((c) => ({
          kind: 'conflict' as const,
          id: c.id,
          table: c.table,
          pk: c.pk,
          local: c.local,
        })),
        ...letters.map((d) => ({
          kind: 'dead' as const,
          id: d.id,
          table: d.table,
          pk: d.pk,
          local: null,
          code: d.code,
        })),
      ];
      const chosen = randomChoice && all.length > 0 ? [random.pick(all)] : all;
      for (const item of chosen) {
        if (item.kind === 'conflict') {
          const choice = randomChoice
            ? random.weighted({ server: 3, client: 2, row: item.local ? 1 : 0 })
            : 'server';
          if (choice === 'row') {
            const row = this.#editedRow(item.table, item.local!, device.tag);
            const opId = ++this.#nextOp;
            this.#ledger.begin(opId, device, this.#step, [
              {
                kind: 'update',
                table: item.table,
                pk: item.pk,
                values: row.changed,
                implied: false,
              },
            ]);
            this.#ledger.recordEvent(device.name, item.table, item.pk, this.#step, 'resolve-row');
            this.#log(
              `${device.name} app resolves conflict ${item.id} on ${item.table} ${short(item.pk)} with an edited row [w${opId}]`,
            );
            await client.resolveConflict(item.id, { row: row.row });
            this.#ledger.settle(opId, 'durable');
          } else {
            this.#ledger.recordEvent(
              device.name,
              item.table,
              item.pk,
              this.#step,
              choice === 'server' ? 'resolve-server' : 'resolve-client',
            );
            this.#log(
              `${device.name} app resolves conflict ${item.id} on ${item.table} ${short(item.pk)}: ${choice}`,
            );
            await client.resolveConflict(item.id, choice);
          }
        } else {
          const retry = randomChoice && random.chance(0.4);
          this.#ledger.recordEvent(
            device.name,
            item.table,
            item.pk,
            this.#step,
            retry ? 'retry' : 'discard',
          );
          this.#log(
            `${device.name} app ${retry ? 'retries' : 'discards'} dead letter ${item.id} on ${item.table} ${short(item.pk)} (${item.code})`,
          );
          if (retry) await client.retryDeadLetter(item.id);
          else await client.discardDeadLetter(item.id);
        }
      }
      this.#count('app decisions', chosen.length);
    };
    inc.ops.track(run()).then(
      () => {
        device.needsCheck = true;
      },
      (error: unknown) => {
        this.#violation(
          'error',
          `${device.name}: the app's conflict or dead-letter call failed: ${describeError(error)}`,
        );
      },
    );
  }

  #editedRow(table: string, local: Row, tag: string): { row: Row; changed: Row } {
    const t = this.#schema.requireTable(table);
    const editable = t.clientColumns.filter(
      (c) => !c.isPrimaryKey && !c.isOwner && !c.reference && c.type === 'text',
    );
    if (editable.length === 0) return { row: { ...local }, changed: {} };
    const column = this.#random.pick(editable);
    const value = `${tag}~app${this.#random.word(6)}`.slice(0, column.maxLength ?? 40);
    return { row: { ...local, [column.name]: value }, changed: { [column.name]: value } };
  }

  #armCrash(device: SimDevice): void {
    const inc = device.live!;
    const mode = this.#random.weighted({ now: 4, call: 4, hook: inc.hooked ? 2 : 0 });
    if (mode === 'now') {
      inc.crash(`now (${inc.ops.running} operation(s) in progress)`);
    } else if (mode === 'call') {
      inc.crashAtCall = inc.driverCalls + this.#random.int(1, 80);
      this.#log(`${device.name} will crash before driver call ${inc.crashAtCall}`);
    } else {
      inc.crashAtHook = { point: this.#random.pick(CRASH_POINTS), skip: this.#random.int(0, 1) };
      this.#log(`${device.name} will crash at ${inc.crashAtHook.point}`);
    }
  }

  /** A crashed device starts again: the file as the crash left it, checked before the client runs. */
  /** Opens a stopped device again (its app updated to `version`, when given). */
  async #reopen(device: SimDevice, version?: number): Promise<void> {
    const inspector = device.inspector!;
    const integrity = inspector.integrityCheck();
    if (integrity !== 'ok') {
      this.#violation(
        'integrity',
        `${device.name}: PRAGMA integrity_check after the crash: ${integrity}`,
      );
    }
    const local = inspector.read();
    this.#checkDevice(device, local);
    // Later writes first: whether an earlier write committed is read from the columns that no
    // later committed write of the device changed.
    const opIds = [...new Set(device.orphans.map((o) => o.opId))].sort((a, b) => b - a);
    for (const opId of opIds) {
      // With the rows its references changed (cascades), in the same transaction.
      const records = device.orphans.filter((o) => o.opId === opId);
      const fate = this.#committedBeforeCrash(device, records, local);
      this.#ledger.settle(opId, fate === 'committed' ? 'durable' : 'failed', fate === 'no-trace');
      this.#log(
        `${device.name} w${opId} was ${fate === 'committed' ? 'committed' : fate === 'no-trace' ? 'not committed (or left no trace)' : 'not committed'} before the crash`,
      );
    }
    device.orphans = [];
    let skew = 0;
    if (this.#faultsEnabled && this.#network.faultsOn && this.#random.chance(0.5)) {
      skew = this.#random.int(-DAY_MS, DAY_MS);
      this.#fault('clock-skew');
    }
    if (version !== undefined) {
      device.version = version;
      device.upgradedAt = this.#step;
    }
    await this.#open(device, skew);
    // The app opened the file in its version (migrating it): read it so from now on.
    if (device.inspectorVersion !== device.version) {
      device.inspector?.close();
      device.inspector = new LocalInspector(device.path, this.#schemaOf(device));
      device.inspectorVersion = device.version;
    }
  }

  /**
   * Whether a write that was running when its client crashed had committed: its values are in
   * the file, except those a later committed write of the device changed again. A write whose
   * every value was changed again left no trace, and does not matter. A row the app rewrote
   * since (a discarded dead letter, a resolved conflict) is no evidence either way. A push of a
   * bundle the device froze after the write began that carries the write's values is evidence
   * that it committed (a freeze reads only committed rows), whatever the file shows now: once
   * pushed, the values may have been replaced since by a conflict's policy or by a pull. A write
   * with no evidence at all (`no-trace`) is taken for not committed by a guess.
   */
  #committedBeforeCrash(
    device: SimDevice,
    records: readonly WriteRecord[],
    local: LocalState,
  ): 'committed' | 'not-committed' | 'no-trace' {
    const final = new Map<
      string,
      { table: string; pk: PrimaryKey; values: Row | null; added: ReadonlySet<string> }
    >();
    for (const record of records) {
      const key = rowKey(record.table, record.pk);
      const before = final.get(key);
      // Columns whose last write is an increment: their recorded value is the view's plus it.
      const added = new Set(
        [...(before?.added ?? [])].filter(
          (c) => !(c in record.values) || record.added?.[c] !== undefined,
        ),
      );
      for (const c of Object.keys(record.added ?? {})) added.add(c);
      final.set(key, {
        table: record.table,
        pk: record.pk,
        values: record.kind === 'delete' ? null : { ...(before?.values ?? {}), ...record.values },
        added,
      });
    }
    const lastSeq = Math.max(...records.map((r) => r.seq));
    let evidence = 0;
    const firstStep = Math.min(...records.map((r) => r.step));
    for (const [key, { table, pk, values, added }] of final) {
      if (this.#ledger.rewrittenByApp(device.name, table, pk, firstStep)) continue;
      const later = this.#ledger.laterDurable(device.name, table, pk, lastSeq);
      if (later.some((w) => w.kind !== 'update')) continue;
      const row = local.rows.get(key)?.row;
      const pushed = (carries: (change: Change) => boolean) =>
        this.#ledger.pushedAfterFreezeSince(device.name, table, pk, firstStep, carries);
      if (values === null) {
        if (later.length > 0) continue;
        evidence++;
        if (row && !pushed((c) => c.op === 'delete')) return 'not-committed';
        continue;
      }
      // An increment's recorded value is the view's plus it: no evidence either way.
      const columns = Object.keys(values).filter(
        (c) => !later.some((w) => c in w.values) && !added.has(c),
      );
      if (columns.length === 0) continue;
      evidence++;
      const inFile = row && columns.every((c) => jsonEqual(row[c] ?? null, values[c]));
      const carried = pushed(
        (c) =>
          c.op === 'upsert' && columns.every((col) => jsonEqual(c.row[col] ?? null, values[col])),
      );
      if (!inFile && !carried) return 'not-committed';
    }
    // No evidence either way (an increment, or values changed again since): taken for not
    // committed, as a guess, which checks that need to know leave out.
    return evidence > 0 ? 'committed' : 'no-trace';
  }

  // ---- settling and checking --------------------------------------------------------------

  /**
   * Lets the simulated world run until every operation has finished or waits on the simulator
   * (only microtasks run, so this is deterministic). Operations the simulator started are
   * counted exactly; the scheduler's own cycles are not, so with the scheduler the world must
   * also have been quiet (no await point reached) for a while.
   */
  async #settle(): Promise<void> {
    let seen = this.#activity;
    let quiet = 0;
    for (let spins = 0; ; spins++) {
      await Promise.resolve();
      if (this.#activity !== seen) {
        seen = this.#activity;
        if (quiet > (this.#stats['max quiet gap'] ?? 0)) this.#stats['max quiet gap'] = quiet;
        quiet = 0;
      } else quiet++;
      const counted = this.#devices.every(
        (d) =>
          !d.live ||
          (this.#scheduler ? d.live.ops.running <= d.live.ops.blocked : d.live.ops.settled),
      );
      if (counted && quiet >= (this.#scheduler ? QUIET_HOPS : 1)) return;
      if (spins > SETTLE_SPINS) {
        const busy = this.#devices
          .filter((d) => d.live && !d.live.ops.settled)
          .map((d) => `${d.name} (${d.live!.ops.running} running, ${d.live!.ops.blocked} waiting)`);
        throw new Error(
          `stuck: operations neither finish nor wait on the simulator: ${busy.join(', ')}`,
        );
      }
      await Promise.resolve();
    }
  }

  /**
   * Lets a longer while pass: time moves in slices of up to half a minute, and the network keeps
   * delivering what is in flight meanwhile (faults included), as it would.
   */
  async #passTime(ms: number, random: SeededRandom = this.#random): Promise<void> {
    for (let left = ms; left > 0 && this.#ok;) {
      const slice = Math.min(left, random.int(5_000, 30_000));
      left -= slice;
      await this.#advance(slice);
      await this.#afterStep();
      for (let n = this.#network.size; n > 0 && this.#ok; n--) {
        this.#step++;
        await this.#network.deliverNext();
        await this.#afterStep();
      }
    }
  }

  /** Moves virtual time forward, firing due timers one by one with the world settled in between. */
  async #advance(ms: number): Promise<void> {
    await this.#clock.advanceAsync(ms, () => this.#settle());
  }

  async #afterStep(): Promise<void> {
    await this.#settle();
    for (const device of this.#devices) {
      const inc = device.inc;
      if (!inc || !inc.dead || inc.cleaned) continue;
      inc.cleaned = true;
      // What the crashed process had not committed is rolled back with its connection.
      inc.raw.close();
      device.orphans.push(...this.#ledger.orphaned(device.name));
      device.inc = null;
      device.offline = false;
      this.#log(
        `${device.name} is down (its SQLite connection is closed; an open transaction rolls back)`,
      );
    }
    for (const device of this.#devices) {
      if (this.#step % 25 === 0 && device.live) device.needsCheck = true;
      if (device.needsCheck && this.#ok) {
        device.needsCheck = false;
        this.#checkDevice(device, device.inspector!.read());
      }
    }
  }

  /**
   * Debugging aid (`FERRY_SIM_CLIENT_LOGS=1`): the client's own log lines go into the trace and,
   * with `FERRY_SIM_WATCH=<primary key>`, what the file holds of that row after each of them
   * (its row in every table, its row state, outbox entry, change in flight and commit).
   * Reading the file changes nothing the run does: a replay with it traces the same steps.
   */
  /**
   * A client's log line: a frozen bundle is noted in the ledger (what a push of it carries was
   * committed in the file by then); with FERRY_SIM_CLIENT_LOGS=1 the line goes to the trace.
   */
  #clientLog(device: SimDevice, entry: LogEntry): void {
    if (entry.event === 'bundle-frozen') {
      const { correlationId, sourceBundleId } = entry.fields as {
        correlationId: string;
        sourceBundleId: number;
      };
      const sourceId = correlationId.slice(0, correlationId.lastIndexOf(':'));
      this.#ledger.recordFreeze(sourceId, sourceBundleId, this.#step);
    }
    if (process.env['FERRY_SIM_CLIENT_LOGS'] === '1') this.#traceClientLog(device, entry);
  }

  #traceClientLog(device: SimDevice, entry: LogEntry): void {
    this.#log(
      `${device.name} log ${entry.event}: ${entry.message} ${JSON.stringify(entry.fields)}`,
    );
    const pk = process.env['FERRY_SIM_WATCH'];
    const raw = device.inc?.raw;
    if (!pk || !raw?.open) return;
    const rows = (sql: string) => JSON.stringify(raw.prepare(sql).all(pk));
    const tables = this.#schema.tables
      .map((t) => `${t.name} ${rows(`SELECT * FROM "${t.name}" WHERE "${t.primaryKey}" = ?`)}`)
      .join(' ');
    this.#log(
      `   ${tables} ferry_rows ${rows('SELECT * FROM ferry_rows WHERE pk = ?')} ` +
        `outbox ${rows('SELECT * FROM ferry_outbox WHERE pk = ?')} ` +
        `inflight ${rows('SELECT op, base_version, base, row FROM ferry_inflight WHERE pk = ?')} ` +
        `committed ${rows('SELECT * FROM ferry_committed WHERE pk = ?')}`,
    );
  }

  /** Checks a client's file (checkpoint, pull completeness, isolation); notes what the app sees. */
  #checkDevice(device: SimDevice, local: LocalState): void {
    for (const [key, kind] of local.parked) {
      const row = local.rows.get(key);
      const [table, , pk] = key.split('\u0000');
      this.#ledger.recordEvent(
        device.name,
        table!,
        row?.pk ?? this.#pkFromKey(table!, pk!),
        this.#step,
        kind === 'dead' ? 'seen-dead' : 'seen-conflict',
      );
    }
    if (this.#serverRestores > 0) {
      // After a restore of the server, a file is on the server's history when its checkpoint
      // carries the server's token of it (a copy, a restored file or a crash can take it off
      // again): the checks that compare it with the server wait until then.
      const onHistory = this.#onHistory(device, local);
      if (onHistory && device.diverged) {
        device.lastCheckpoint = null;
        this.#log(`${device.name} follows the server's history again`);
      }
      device.diverged = !onHistory;
    }
    const found = checkClientFile(
      // The file as it is: a restored backup may be of the version before the app's update.
      this.#schemaOf({ version: device.inspectorVersion }),
      this.#model,
      device,
      local,
      device.upgradedAt === null ? undefined : this.#schema,
    ).filter((f) => !device.diverged || f.invariant === 'isolation');
    for (const { invariant, message } of found) this.#violation(invariant, message);
    if (local.checkpoint !== null && !device.diverged) {
      device.lastCheckpoint = Math.max(device.lastCheckpoint ?? 0, local.checkpoint);
    }
  }

  // ---- the quiet phase --------------------------------------------------------------------

  async #quietPhase(): Promise<void> {
    // A deploy the run did not reach happens now, so that updated apps can converge.
    if (this.#upgrades?.server != null) await this.#migrateServer();
    this.#log('--- faults stop ---');
    this.#network.faultsOn = false;
    this.#server.down = false;
    for (const device of this.#devices) {
      device.offline = false;
      const inc = device.live;
      if (!inc) continue;
      inc.crashAtCall = null;
      inc.crashAtHook = null;
      inc.pauseAt.clear();
      for (const paused of inc.paused) paused.gate.open();
    }
    await this.#afterStep();
    for (const device of this.#devices) if (device.inc === null) await this.#reopen(device);
    for (const device of this.#devices) if (this.#scheduler) device.live!.client.setOnline(true);
    await this.#drain();
    if (this.#scheduler) {
      await this.#recoverByThemselves();
      return;
    }
    for (let round = 1; round <= QUIET_ROUNDS && this.#ok; round++) {
      for (const device of this.#random.shuffle(this.#devices)) {
        this.#step++;
        this.#sync(device, 'full');
        await this.#drain();
        if (!this.#ok) return;
      }
      for (const device of this.#devices) {
        if (this.#parkedOf(device) === 0) continue;
        this.#step++;
        this.#appSettles(device, round === 1);
        await this.#drain();
      }
      const lagging = this.#lagging();
      if (lagging.length === 0) {
        this.#log(`converged after ${round} quiet round(s)`);
        this.#config['quietRounds'] = round;
        return;
      }
      if (round === QUIET_ROUNDS) {
        this.#violation(
          'liveness',
          `no convergence after ${QUIET_ROUNDS} quiet sync rounds: ${lagging.join('; ')}`,
        );
      }
    }
  }

  /**
   * With the scheduler, clients must recover by themselves once faults stop: backoff, circuit
   * cool-down and periodic sync run on the virtual clock; the app only settles the conflicts
   * and dead letters it is shown.
   */
  async #recoverByThemselves(): Promise<void> {
    const limitMs = 60 * 60_000;
    for (let waited = 0; waited <= limitMs && this.#ok; waited += 5_000) {
      if (waited % 30_000 === 0) {
        for (const device of this.#devices) {
          if (this.#parkedOf(device) === 0) continue;
          this.#step++;
          this.#appSettles(device, waited === 0);
          await this.#drain();
        }
        // A client whose token refresh did not help stops and says so; the app then signs the
        // user in again and asks for a sync (a stop the client shows is the app's to act on).
        for (const device of this.#devices) {
          if (device.live?.client.status.auth !== 'failed') continue;
          this.#step++;
          this.#log(`${device.name} shows blocked-auth: the app signs in again`);
          this.#syncNow(device);
          await this.#drain();
        }
        if (this.#lagging().length === 0) {
          this.#log(`converged by themselves after ${waited / 1000} s of quiet`);
          this.#config['quietSeconds'] = waited / 1000;
          return;
        }
      }
      this.#step++;
      await this.#advance(5_000);
      await this.#drain();
    }
    if (this.#ok) {
      this.#violation(
        'liveness',
        `no convergence ${limitMs / 60_000} min after faults stopped: ${this.#lagging().join('; ')}`,
      );
    }
  }

  async #drain(): Promise<void> {
    await this.#afterStep();
    for (let i = 0; i < 50_000; i++) {
      const idle =
        this.#scheduler || this.#devices.every((d) => !d.live || d.live.ops.running === 0);
      if (this.#network.size === 0 && idle) return;
      if (this.#network.size === 0)
        throw new Error('operations are waiting but nothing is in flight');
      this.#step++;
      await this.#network.deliverNext();
      await this.#afterStep();
      if (!this.#ok) return;
    }
    throw new Error('the network never drained');
  }

  /** Devices that do not yet equal the server (with why). */
  #lagging(): string[] {
    const out: string[] = [];
    for (const device of this.#devices) {
      const why = lagBehind(
        this.#schemaOf(device),
        this.#model,
        device.userId,
        device.inspector!.read(),
      );
      const status = device.live?.client.status;
      if (why.length > 0 && status) {
        why.push(
          `client state ${status.state} (auth ${status.auth}, circuit ${status.circuit}, online ${String(status.online)}, last error ${status.lastError?.code ?? 'none'})`,
        );
      }
      if (why.length > 0) out.push(`${device.name}: ${why.join(', ')}`);
    }
    return out;
  }

  async #finalChecks(): Promise<void> {
    // (a) The server equals the oracle: each user's snapshot, checked by the oracle.
    for (const userId of this.#users) {
      const answer = await this.#server.exchange({
        method: 'GET',
        url: 'http://ferry.sim/v1/snapshot',
        headers: {
          authorization: `Bearer ${tokenFor(userId)}`,
          'x-ferry-schema': String(this.#server.version),
        },
        body: undefined,
      });
      this.#log(`final snapshot of ${userId}: ${answer.summary}`);
    }
    for (const device of this.#devices) {
      const local = device.inspector!.read();
      this.#checkDevice(device, local);
      const alive = this.#model.aliveRows(device.userId);
      for (const [key, row] of alive) {
        const columns = this.#schemaOf(device).requireTable(row.table).columns;
        if (!rowsEqual(columns, local.rows.get(key)?.row, row.row)) {
          this.#violation(
            'convergence',
            `${device.name}: ${row.table} ${row.pk} differs from the server`,
          );
          break;
        }
      }
    }
    for (const problem of this.#ledger.lostWrites(this.#model))
      this.#violation('lost-write', problem);
    // Counter sums, where nothing but the devices' increments can have moved a counter: no
    // copied or restored files (they push increments twice, or lose them); server-wins drops
    // the local increments of a row in conflict (journaled), so those rows are left out.
    if (
      this.#counters &&
      this.#copies === 0 &&
      this.#clientRestores === 0 &&
      this.#serverRestores === 0
    ) {
      const sums = this.#ledger.counterSums(this.#model, (table) =>
        ['field-merge', 'client-wins', 'manual'].includes(this.#policies[table] ?? ''),
      );
      for (const problem of sums.problems) this.#violation('counter', problem);
      this.#stats['counters summed'] = sums.summed;
    }
    for (const problem of this.#ledger.resurrections(
      this.#model,
      (_device, table) => this.#policies[table] === 'client-wins',
    )) {
      this.#violation('resurrection', problem);
    }
    this.#stats['durable writes'] = this.#ledger.durableCount;
    for (const userId of this.#users)
      this.#stats[`bundles of ${userId}`] = this.#model.lastSeq(userId);
  }

  // ---- helpers ----------------------------------------------------------------------------

  #live(): SimDevice[] {
    return this.#devices.filter((d) => d.live !== null);
  }

  #paused() {
    return this.#live().flatMap((d) =>
      d.live!.paused.filter((p) => !p.gate.settled).map((p) => ({ ...p, device: d })),
    );
  }

  #parkedOf(device: SimDevice): number {
    return device.inspector ? device.inspector.parkedCount() : 0;
  }

  #pkFromKey(table: string, text: string): PrimaryKey {
    const column = this.#schema
      .requireTable(table)
      .column(this.#schema.requireTable(table).primaryKey);
    return column?.type === 'integer' ? Number(text) : text;
  }

  #log(text: string): void {
    const t = ((this.#clock.now() - START_TIME) / 1000).toFixed(1);
    const line = `#${this.#step} +${t}s ${text}`;
    this.#trace.line(line);
    this.#options.onTrace?.(line);
  }

  #fault(kind: FaultKind): void {
    this.#faults[kind]++;
  }

  #count(what: string, by = 1): void {
    this.#stats[what] = (this.#stats[what] ?? 0) + by;
  }

  #violation(invariant: InvariantId, message: string): void {
    this.#violations.push({ invariant, message, step: this.#step });
    this.#log(`VIOLATION [${invariant}] ${message}`);
  }
}

/** The oracle's messages, sorted into the invariant they break. */
function classifyOracle(message: string): InvariantId {
  if (message.includes('exactly-once') || message.includes('resend')) return 'exactly-once';
  if (message.includes('dense')) return 'ordering';
  if (message.includes('a spurious conflict') || message.includes('a stale base'))
    return 'spurious-conflict';
  if (message.includes('a foreign base')) return 'foreign-base';
  if (message.includes('an untouched column')) return 'untouched-column';
  if (message.includes("a counter's increment")) return 'counter';
  return 'protocol';
}

/** Every row change of a write, the implied ones (cascades) after the one that implies them. */
function flatten(changes: readonly WriteChange[]) {
  const out: {
    kind: 'insert' | 'update' | 'delete';
    table: string;
    pk: PrimaryKey;
    values: Row;
    implied: boolean;
    added?: Readonly<Record<string, number>>;
  }[] = [];
  const visit = (change: WriteChange, implied: boolean) => {
    out.push({
      kind: change.kind,
      table: change.table,
      pk: change.pk,
      values: change.kind === 'delete' ? {} : change.values,
      implied,
      ...(change.kind === 'update' && change.added ? { added: change.added } : {}),
    });
    if (change.kind === 'delete') for (const child of change.implied) visit(child, true);
  };
  for (const change of changes) visit(change, false);
  return out;
}

function describeChange(change: {
  kind: string;
  table: string;
  pk: PrimaryKey;
  values: Row;
}): string {
  const values = Object.keys(change.values).length > 0 ? ` ${stableJson(change.values)}` : '';
  return `${change.kind} ${change.table} ${short(change.pk)}${change.kind === 'insert' ? '' : values}`;
}

function describeReport(report: SyncReport): string {
  const parts = [`checkpoint ${report.checkpoint}`];
  if (report.pushed) parts.push(`pushed ${report.pushed}`);
  if (report.pulled) parts.push(`pulled ${report.pulled}`);
  if (report.hydrated) parts.push('hydrated');
  if (report.conflicts.length) {
    parts.push(
      `conflicts ${report.conflicts.map((c) => `${c.table} ${short(c.pk)}→${c.outcome}`).join(', ')}`,
    );
  }
  if (report.deadLettered.length) {
    parts.push(
      `dead-lettered ${report.deadLettered.map((d) => `${d.table} ${short(d.pk)} (${d.code})`).join(', ')}`,
    );
  }
  if (report.morePush || report.morePull) parts.push('more to do');
  return parts.join(', ');
}

function describeError(error: unknown): string {
  if (isFerryError(error)) return `${error.code}: ${error.message}`;
  if (error instanceof Error) return `${error.message}\n${error.stack ?? ''}`;
  return String(error);
}

function short(pk: PrimaryKey): string {
  return String(pk).slice(0, 8);
}

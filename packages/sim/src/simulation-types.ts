import type { UnsafeClientFaults } from '@ferry/client';
import type { Schema } from '@ferry/protocol';
import type { FaultKind } from './fault-kinds.js';
import type { NetworkFaultRates, NetworkTamper } from './sim-network.js';
import type { UnsafeServerFaults } from './faulty-push-rules.js';
import type { WriteMix } from './workload.js';

/**
 * The invariants of issue 6 (letters a–h) and the other ways a run can fail.
 *
 * | id | checks |
 * |---|---|
 * | `convergence` (a) | after quiescence every client equals the server for its user, and the server equals the oracle |
 * | `lost-write` (b) | every acknowledged local write reached the server or stands in a dead letter / conflict the app saw |
 * | `exactly-once` (c) | no push commits twice, whatever was duplicated or retried |
 * | `ordering` (d) | bundleSeq dense per user; a client's checkpoint only rises and never passes the server |
 * | `pull-completeness` (e) | everything up to a client's checkpoint is in its file (rows without local intent equal the server's at that seq) |
 * | `isolation` (f) | no row or value of one user in another user's file or answers |
 * | `resurrection` (g) | a deleted row comes back only through an explicit re-insert |
 * | `liveness` (h) | once faults stop, outboxes drain and replicas are equal within 5 sync rounds |
 * | `spurious-conflict` (i) | a push never carries a base older than the version its own source last committed for that row, so it never conflicts with its own commit (such a change gives the resolver a wrong base, and it may drop the edit) |
 * | `foreign-base` (k) | every base a push the server judges carries (a non-null `baseVersion`, with the base row the device's file holds for it) is the server's state of that row at that version in the server's current history: versions of a history the server lost, or of no history, never pass for the server's (an edit made on an old live version equal to a new tombstone's would re-create the row; equal to another device's new version, overwrite its edit unchallenged) |
 * | `outage` (j) | with the default circuit, a server that stays down gets at most 20 requests a device in any hour, evidence storms included; once it is back and the device is told so, it catches up within 2 minutes (17 after false evidence during the outage, which pushes its trials out to the backoff cap) |
 * | `protocol` | a server answer differs from what protocol.md prescribes (the oracle) |
 * | `integrity` | `PRAGMA integrity_check` fails, or a client's integrity gate refused server data |
 * | `counter` | a committed push that carried a counter's delta left the counter at anything but its value before plus the delta (an increment lost or applied twice); at the end, a counter nothing but the apps' increments moved is the value it was inserted with plus every increment the apps made (`counterSums`) |
 * | `untouched-column` | a committed push changed no column of a row the server had that the push did not write (its `columns`, else its row's keys): a device never resets a column it does not know or did not change |
 * | `error` | an operation failed in a way no fault explains, or the simulator got stuck |
 */
export const INVARIANTS = [
  'convergence',
  'lost-write',
  'exactly-once',
  'ordering',
  'pull-completeness',
  'isolation',
  'resurrection',
  'liveness',
  'spurious-conflict',
  'foreign-base',
  'outage',
  'protocol',
  'integrity',
  'untouched-column',
  'counter',
  'error',
] as const;

/** One of {@link INVARIANTS}. */
export type InvariantId = (typeof INVARIANTS)[number];

/** A broken invariant. */
export interface Violation {
  readonly invariant: InvariantId;
  readonly message: string;
  /** The step at which it was found. */
  readonly step: number;
}

/** Test-only engine faults, for negative controls: a simulator that cannot fail proves nothing. */
export interface UnsafeFaults {
  /** Wrapped around the server's push rules (`faultyPushRules`). */
  readonly server?: UnsafeServerFaults;
  /** Passed to every client (`__unsafeFaults`). */
  readonly client?: UnsafeClientFaults;
  /** A middlebox that hides what makes copies and restored backups detectable. */
  readonly network?: NetworkTamper;
  /** Clients run without a circuit breaker (a threshold no outage reaches, a 1 min backoff cap). */
  readonly noCircuitBreaker?: boolean;
  /** The app never tells its clients they are online again (no evidence after an outage). */
  readonly noOnlineSignal?: boolean;
}

/** The identity workloads a run can be made to include (see `SimulationOptions.identity`). */
export type IdentityWorkload = 'copy' | 'client-restore' | 'server-restore' | 'long-outage';

/** Options of {@link runSimulation}. */
export interface SimulationOptions<S extends Schema = Schema> {
  /** The schema to simulate: the workload writes random valid rows of every table. */
  readonly schema: S;
  /** Everything random in the run comes from this seed. */
  readonly seed: number;
  /** Workload operations (writes, syncs, backend writes, app decisions, idle time) before the quiet phase. Default 300. */
  readonly operations?: number;
  /** Number of devices (default: 3 to 5, from the seed). */
  readonly clients?: number;
  /** User ids (default two users). Devices are spread over them. */
  readonly users?: readonly string[];
  /** `false` runs without any fault; an object overrides network fault rates. */
  readonly faults?: false | Partial<NetworkFaultRates>;
  /** Relative weights of the kinds of local writes. */
  readonly writeMix?: Partial<WriteMix>;
  /** Conflict policy per table: `random` (default, from the seed) or the schema's own. */
  readonly resolvers?: 'random' | 'schema';
  /** Directory for the SQLite files (default: a new temporary directory, removed afterwards). */
  readonly dir?: string;
  /** Keep the SQLite files after the run (default: only when it failed and `dir` was given). */
  readonly keepFiles?: boolean;
  /** Trace lines kept for the failure report (default 120). */
  readonly traceLines?: number;
  /** Keep every trace line in the result (default false). */
  readonly fullTrace?: boolean;
  /** Called with every trace line as it happens. */
  readonly onTrace?: (line: string) => void;
  /** Deliberately broken engine variants (negative controls). */
  readonly unsafeFaults?: UnsafeFaults;
  /**
   * Workloads of identities and time: copied client files, client and server files restored
   * from older backups, and (with the scheduler) long outages. Default: half the seeds, one kind
   * each, from the seed, drawn apart from every other choice so that a seed without them runs
   * exactly as before they existed. `true`: every kind in one run. Naming one makes sure it
   * happens (early in the run), as well as random ones of every kind (a long outage needs
   * `mode: 'scheduler'`).
   */
  readonly identity?: boolean | IdentityWorkload;
  /**
   * `explicit`: clients sync only when the workload calls `sync()`. `scheduler`: clients sync by
   * themselves (the scheduler's timers run on the virtual clock) and the workload calls
   * `syncNow()`. `mixed` (default): one or the other, from the seed.
   */
  readonly mode?: 'explicit' | 'scheduler' | 'mixed';
  /**
   * The next version of `schema` (its migration may add columns and indexes only): in the seeds
   * that draw the upgrade workload, the server migrates to it mid-run and devices update to it
   * at random times (some before the server, which answers them `schema_ahead`; some never:
   * versions stay mixed to the end). Every check reads each device in its own version.
   */
  readonly upgrade?: Schema;
  /**
   * With `upgrade`: `true` runs the upgrade workload, `false` never; default one seed in three,
   * drawn apart from every other choice (a seed without it runs as before it existed), and never
   * together with a restore of the server from a backup.
   */
  readonly upgrades?: boolean;
  /**
   * The counter workload: the schema (and `upgrade`) get a `tallies` table with a counter and a
   * set column (`withTallies`), and devices add to counters offline (`UPDATE … SET count = count
   * + k`) besides every other write. `true` always, `false` never; default one seed in three,
   * drawn apart from every other choice (a seed without it runs as before it existed).
   */
  readonly counters?: boolean;
}

/** What a run did and found. */
export interface SimulationResult {
  readonly seed: number;
  /** No violation. */
  readonly ok: boolean;
  readonly violations: readonly Violation[];
  /** Workload operations run. */
  readonly operations: number;
  /** Simulation steps (operations, deliveries and faults). */
  readonly steps: number;
  readonly faults: Readonly<Record<FaultKind, number>>;
  readonly stats: Readonly<Record<string, number>>;
  /** The last trace lines (all of them with `fullTrace`). */
  readonly trace: readonly string[];
  /** sha-256 of the whole trace: two runs of one seed must have the same. */
  readonly traceHash: string;
  /** The configuration the seed chose. */
  readonly config: Readonly<Record<string, unknown>>;
  /** Real time the run took (not part of the trace). */
  readonly wallMs: number;
}

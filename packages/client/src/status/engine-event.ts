/**
 * What the engine's steps did, as values: each step returns the events of its work (or, for the
 * loops that chain steps, hands them to a {@link Recorder}), and one recorder
 * (`engine-recorder.ts`) turns them into the cycle's report, the counters, the log and the
 * status. No step writes to those itself.
 *
 * @module
 */
import type { AssignedKey } from '../local/remap-keys.js';
import type { FerryError } from '@ferry/protocol';
import type { IntegrityViolation } from '../apply/integrity-gate.js';
import type { FrozenBundle, FrozenBundleHead } from '../local/metadata.js';
import type {
  ConflictReport,
  DeadLetterReport,
  SettledConflict,
  SyncKind,
  SyncReport,
} from '../types.js';

/** The bundle an event is about, with the correlation id of its requests. */
export interface BundleRef {
  readonly sourceBundleId: number;
  /** `sourceId:sourceBundleId`, as the requests and log entries carry it. */
  readonly correlationId: string;
}

/** Something the engine did. */
export type EngineEvent =
  /** A cycle began (`scheduled`: the scheduler's, which counts its own cycles). */
  | { readonly type: 'cycle-started'; readonly kind: SyncKind; readonly scheduled: boolean }
  /** A cycle ended well: its report as the app gets it. */
  | {
      readonly type: 'cycle-succeeded';
      readonly kind: SyncKind;
      readonly scheduled: boolean;
      readonly report: SyncReport;
      readonly at: number;
    }
  /** The caller stopped the cycle (not a failure). */
  | { readonly type: 'cycle-aborted'; readonly scheduled: boolean }
  /** The client closed under the cycle. */
  | { readonly type: 'cycle-closed' }
  /** A cycle failed with `error`. */
  | {
      readonly type: 'cycle-failed';
      readonly scheduled: boolean;
      readonly error: FerryError;
      readonly at: number;
    }
  /** The first token's user is the file's from now on. */
  | { readonly type: 'user-identified'; readonly userId: string }
  /** A new bundle was frozen and stored (not yet sent). */
  | { readonly type: 'bundle-frozen'; readonly bundle: FrozenBundle; readonly ref: BundleRef }
  /** The server said our bundle committed as `bundleSeq`. */
  | {
      readonly type: 'bundle-committed';
      readonly bundle: FrozenBundle;
      readonly ref: BundleRef;
      readonly bundleSeq: number;
      readonly at: number;
      /** Rows inserted under temporary keys that took the server's keys (see `remap-keys.ts`). */
      readonly keys?: readonly AssignedKey[];
      /** The tables that remap rewrote. */
      readonly tables?: readonly string[];
    }
  /** A page of pulled bundles was applied with its checkpoint. */
  | {
      readonly type: 'pulled';
      /** Bundles and row effects applied. */
      readonly bundles: number;
      readonly rows: number;
      readonly checkpoint: number;
      readonly firstBundleSeq: number | null;
      /** The tables the page wrote. */
      readonly tables: readonly string[];
      /** Whether the page acknowledged our bundle in flight. */
      readonly acked: boolean;
      readonly warnings: readonly IntegrityViolation[];
      readonly at: number;
    }
  /** A hydration began. */
  | { readonly type: 'hydration-started' }
  /** A snapshot was applied. */
  | {
      readonly type: 'hydrated';
      readonly rows: number;
      readonly checkpoint: number;
      readonly tables: readonly string[];
      readonly warnings: readonly IntegrityViolation[];
      readonly at: number;
    }
  /** The integrity gate refused a page or a snapshot (rolled back). */
  | {
      readonly type: 'integrity-refused';
      readonly violations: readonly IntegrityViolation[];
      readonly at: number;
    }
  /** The resolvers settled a 409. */
  | {
      readonly type: 'conflicts-settled';
      readonly ref: BundleRef;
      readonly reports: readonly ConflictReport[];
      readonly journaled: readonly SettledConflict[];
    }
  /** Refused changes moved to the dead letters (`status`: the refusal's HTTP status). */
  | {
      readonly type: 'dead-lettered';
      readonly ref: BundleRef;
      readonly letters: readonly DeadLetterReport[];
      readonly status: number | null;
    }
  /** The server lacked the point our bases were learned at: they were forgotten. */
  | { readonly type: 'bases-forgotten'; readonly ref: BundleRef }
  /** The source id was rotated; `frozen`: the bundle in flight after it. */
  | {
      readonly type: 'source-rotated';
      readonly previous: string;
      readonly next: string;
      readonly reason: string;
      readonly frozen: FrozenBundleHead | null;
    }
  /** The counts of the file, read again. */
  | {
      readonly type: 'counts-read';
      readonly pending: number;
      readonly oldestPendingAt: number | null;
      readonly frozen: FrozenBundleHead | null;
      readonly checkpoint: number | null;
      readonly conflicts: number;
      readonly settledConflicts: number;
      readonly deadLetters: number;
      readonly at: number;
    };

/** Where events go: one recorder per client, or one bound to a cycle's report. */
export interface Recorder {
  record(...events: readonly EngineEvent[]): void;
}

/** The reference of `bundle` as the client whose source id is `sourceId` sends it. */
export function bundleRef(
  sourceId: string,
  bundle: { readonly sourceBundleId: number },
): BundleRef {
  return {
    sourceBundleId: bundle.sourceBundleId,
    correlationId: `${sourceId}:${bundle.sourceBundleId}`,
  };
}

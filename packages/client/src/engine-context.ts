import type { DerivedState } from './apply/derived-state.js';
import type { Schema } from '@ferry/protocol';
import type { SerialDatabase } from './driver/serial-database.js';
import type { TableCodec } from './local/table-codec.js';
import type { HookPoint, UnsafeClientFaults } from './types.js';

/** What the engine's I/O steps share: the schema, its codecs, the source id, clock and hooks. */
export interface EngineContext {
  readonly schema: Schema;
  readonly codecs: ReadonlyMap<string, TableCodec>;
  /** The source id new bundles are frozen under; changes only through `rotateSource`. */
  sourceId: string;
  now(): number;
  /** Runs the hook of a point, if any (awaited when it returns a promise). */
  hook(point: HookPoint): Promise<void> | void;
  /** The app's derived states, in rebuild order (`orderDerived`). */
  readonly derived: readonly DerivedState[];
  /** Test only: deliberate bugs for negative controls (`ClientOptions.__unsafeFaults`). */
  readonly faults?: UnsafeClientFaults | undefined;
}

/** The open database and the engine context: what the local steps need. */
export interface LocalParts {
  readonly db: SerialDatabase;
  readonly ctx: EngineContext;
}

/** Settings of the engine, fixed for the client's life. */
export interface EngineSettings {
  /** Per-request timeout (a snapshot download gets ten times that). */
  readonly requestTimeoutMs: number;
  /** Rows per pull page asked for. */
  readonly pullLimit: number;
  /** Rebase-and-retry rounds per row before a conflict becomes manual. */
  readonly maxConflictRetries: number;
  /** Entries the journal of settled conflicts keeps. */
  readonly maxSettledConflicts: number;
  /** How a client that never synced starts. */
  readonly initialSync: 'hydrate' | 'pull';
  /** Whether the app set `hooks.at` (writes then leave the one-call fast path). */
  readonly hooked: boolean;
  /** Makes the source id of a rotation. */
  readonly createSourceId: () => string;
}

/** Limits of the next bundle; a 413 lowers `maxChanges` for the rest of the client's life. */
export interface BundleLimitsState {
  maxChanges: number;
  readonly maxBytes: number;
}

import type { Schema } from '@ferry/protocol';
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
  /** Test only: deliberate bugs for negative controls (`ClientOptions.__unsafeFaults`). */
  readonly faults?: UnsafeClientFaults | undefined;
}

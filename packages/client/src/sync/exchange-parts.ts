import type { BundleLimitsState, EngineSettings, LocalParts } from '../engine-context.js';
import type { ResolverLookup } from '../conflicts/resolver-lookup.js';
import type { Recorder } from '../status/engine-event.js';
import type { Transport } from './transport.js';

/**
 * What the round trips of a cycle need: the file, the transport, the settings, the limits of the
 * next bundle, the resolvers, and the recorder their steps' events go to. The steps they chain
 * each take their own part of it.
 */
export interface ExchangeParts extends LocalParts {
  readonly transport: Transport;
  readonly settings: EngineSettings;
  readonly limits: BundleLimitsState;
  readonly resolverOf: ResolverLookup;
  readonly recorder: Recorder;
}

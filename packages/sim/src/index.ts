/**
 * `@ferry/sim`: deterministic simulation of Ferry with fault injection. Runs the real client
 * engine (several devices, each with its own SQLite file) and the real server with its SQLite
 * store in one process, connects them through a simulated network that loses, duplicates,
 * delays, reorders and cuts messages, crashes clients at await points and restarts the server,
 * and checks every answer against an oracle and the end state against the invariants of
 * sync: convergence, no lost acknowledged write, exactly-once commits, dense ordering, pull
 * completeness, isolation between users, no resurrection, liveness. Point it at your own
 * schema; a failing seed replays exactly.
 *
 * @example
 * import { runSimulation } from '@ferry/sim';
 * const result = await runSimulation({ schema: mySchema, seed: 7 });
 * if (!result.ok) {
 *   console.error(result.violations);
 *   console.error(result.trace.join('\n'));
 * }
 *
 * @module
 */
export { runSimulation } from './run-simulation.js';
export { INVARIANTS } from './simulation-types.js';
export type {
  IdentityWorkload,
  InvariantId,
  SimulationOptions,
  SimulationResult,
  UnsafeFaults,
  Violation,
} from './simulation-types.js';
export { FAULT_KINDS } from './fault-kinds.js';
export type { FaultKind } from './fault-kinds.js';
export { DEFAULT_NETWORK_FAULTS } from './sim-network.js';
export type { NetworkFaultRates, NetworkTamper } from './sim-network.js';
export { DEFAULT_WRITE_MIX } from './workload.js';
export type { WriteMix } from './workload.js';
export { createSeededRandom } from './seeded-random.js';
export type { SeededRandom } from './seeded-random.js';
export { runSeeds } from './run-seeds.js';
export type { SeedBatchOptions, SeedBatchSummary } from './run-seeds.js';
export { LocalInspector } from './local-inspector.js';
export type { LocalState } from './local-inspector.js';
export { rowKey } from './server-model.js';

/**
 * Every fault the simulator injects, by name. A run counts how many of each it injected.
 *
 * | kind | what happens |
 * |---|---|
 * | `drop-request` | the request never reaches the server; the client sees a network error later |
 * | `drop-response` | the server does the work; its answer is lost, the client sees a network error |
 * | `duplicate-request` | the server receives the request twice in a row; the client gets the second answer |
 * | `delayed-duplicate` | a copy of the request reaches the server later, after other traffic |
 * | `cut-response` | the answer's body stops part-way (an error, or a clean end too early) |
 * | `bad-gateway` | a proxy answers 502 with an HTML body; the server never sees the request |
 * | `unauthorized` | the server refuses the token once (401) |
 * | `reorder` | a message is delivered before an older one still in the network |
 * | `hook-pause` | a client is held at a named point while others run |
 * | `offline` | a request of an offline device fails at once |
 * | `client-crash` | a client process dies at an await point; its file is reopened later |
 * | `server-restart` | the server closes and reopens its store file |
 * | `server-down` | the server is unreachable for a while |
 * | `clock-skew` | a device restarts with its clock off by up to ±24 h |
 * | `history-pruned` | the server prunes pull history; clients behind it must hydrate |
 * | `copied-file` | a device's file is copied to a new device: two installs with one source id |
 * | `client-restore` | a device's file is replaced by an older backup of itself |
 * | `server-restore` | the server's database is replaced by an older backup of itself |
 * | `long-outage` | (scheduler) the server is down for 35–75 min, then back; devices must catch up |
 * | `server-migration` | (upgrade workload) the server is deployed with the next schema version and migrates its database |
 * | `client-upgrade` | (upgrade workload) a device's app is updated to the next schema version and migrates its file |
 */
export const FAULT_KINDS = [
  'drop-request',
  'drop-response',
  'duplicate-request',
  'delayed-duplicate',
  'cut-response',
  'bad-gateway',
  'unauthorized',
  'reorder',
  'hook-pause',
  'offline',
  'client-crash',
  'server-restart',
  'server-down',
  'clock-skew',
  'history-pruned',
  'copied-file',
  'client-restore',
  'server-restore',
  'long-outage',
  'server-migration',
  'client-upgrade',
] as const;

/** One of {@link FAULT_KINDS}. */
export type FaultKind = (typeof FAULT_KINDS)[number];

/** Counts per fault kind, all zero. */
export function emptyFaultCounts(): Record<FaultKind, number> {
  return Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
}

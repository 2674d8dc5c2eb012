import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The Prometheus metrics of one server, in a registry of its own. */
export interface ServerMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'route' | 'status'>;
  readonly bundlesCommitted: Counter<'origin'>;
  readonly bundleRows: Histogram;
  readonly pushSeconds: Histogram;
  readonly pullSeconds: Histogram;
  readonly sseConnections: Gauge;
  readonly tombstones: Gauge;
  readonly pushRefusals: Counter<'hook' | 'code'>;
}

/**
 * Creates the metrics of a server: requests by route and status, bundles committed (by origin:
 * push or backend), rows per bundle, push and pull latency, active SSE connections, live
 * tombstones, changes the server's hooks refused, plus the
 * process metrics. A registry per server, so several servers in one process don't collide; the
 * process metrics in it are the one set of {@link processMetrics}, shared by every server.
 */
export function createServerMetrics(): ServerMetrics {
  // A copy of the process's registry: the same process metrics, and room for this server's own.
  const registry = Registry.merge([processMetrics()]);
  const latencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  return {
    registry,
    requests: new Counter({
      name: 'ferry_http_requests_total',
      help: 'HTTP requests answered, by route and status',
      labelNames: ['route', 'status'],
      registers: [registry],
    }),
    bundlesCommitted: new Counter({
      name: 'ferry_bundles_committed_total',
      help: 'Bundles committed, by origin (push or backend)',
      labelNames: ['origin'],
      registers: [registry],
    }),
    bundleRows: new Histogram({
      name: 'ferry_bundle_rows',
      help: 'Row effects per committed bundle',
      buckets: [0, 1, 2, 5, 10, 50, 100, 500, 1000, 5000, 10000],
      registers: [registry],
    }),
    pushSeconds: new Histogram({
      name: 'ferry_push_duration_seconds',
      help: 'Time to answer a push (POST /v1/push and the push of POST /v1/sync)',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    pullSeconds: new Histogram({
      name: 'ferry_pull_duration_seconds',
      help: 'Time to answer a pull (GET /v1/pull and the pull of POST /v1/sync)',
      buckets: latencyBuckets,
      registers: [registry],
    }),
    sseConnections: new Gauge({
      name: 'ferry_sse_connections',
      help: 'Open GET /v1/events streams',
      registers: [registry],
    }),
    tombstones: new Gauge({
      name: 'ferry_tombstones',
      help: 'Row states of deleted rows the store keeps (all users), as of the last prune',
      registers: [registry],
    }),
    pushRefusals: new Counter({
      name: 'ferry_push_refusals_total',
      help: "Pushed changes the server's hooks refused, by hook (validate, authorize) and code",
      labelNames: ['hook', 'code'],
      registers: [registry],
    }),
  };
}

/** `ferry_process_cpu_user_seconds_total`, `ferry_nodejs_heap_size_used_bytes`, … */
const PROCESS_METRICS_PREFIX = 'ferry_';

let shared: Registry | undefined;

/**
 * The process metrics (CPU, memory, heap, event-loop lag, GC, handles), prefixed `ferry_`: one
 * registry per process, made on first use. They describe the process, not a server, and their
 * collectors cannot be stopped (an event-loop delay monitor and a GC observer that stay
 * registered with Node for good), so a collector set per server would keep every closed server's
 * metrics alive and monitored for the rest of the process.
 */
export function processMetrics(): Registry {
  if (shared === undefined) {
    shared = new Registry();
    collectDefaultMetrics({ register: shared, prefix: PROCESS_METRICS_PREFIX });
  }
  return shared;
}

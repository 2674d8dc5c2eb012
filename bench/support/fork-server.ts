import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { PgSchemas } from './pg.js';
import type { BenchStore } from './todo-server.js';

/** A bench server running in a child process (see server-process.ts). */
export interface ForkedServer {
  readonly url: string;
  readonly token: string;
  /** Restarts the server's RSS peak; returns its current RSS in MB. */
  baseline(): Promise<{ rss_mb: number; max_rss_mb: number }>;
  /**
   * The server's RSS peak since the baseline and its lifetime max RSS, in MB, and the longest
   * time its event loop did not turn since the baseline, in ms.
   */
  peak(): Promise<{ rss_mb: number; max_rss_mb: number; longest_block_ms: number }>;
  /** CPU seconds the server process used so far (user + system). */
  cpu(): Promise<{ cpu_s: number }>;
  stop(): Promise<void>;
}

/** Options of {@link forkBenchServer}. */
export interface ForkOptions {
  /** Default 'sqlite' (a temporary file). */
  readonly store?: BenchStore;
  /** PostgreSQL: the schemas (shared by every instance forked with them). */
  readonly pgSchemas?: PgSchemas;
  /** PostgreSQL: pool size of the instance. */
  readonly pgPoolMax?: number;
  /** PostgreSQL: how long a request may wait for a pooled connection. */
  readonly pgConnectionTimeoutMs?: number;
}

/** Forks a bench server with the example schema. */
export async function forkBenchServer(options: ForkOptions = {}): Promise<ForkedServer> {
  const script = fileURLToPath(new URL('./server-process.ts', import.meta.url));
  const env: NodeJS.ProcessEnv = { ...process.env, BENCH_STORE: options.store ?? 'sqlite' };
  if (options.pgSchemas) {
    env.BENCH_PG_BUSINESS = options.pgSchemas.business;
    env.BENCH_PG_META = options.pgSchemas.meta;
  }
  if (options.pgPoolMax !== undefined) env.BENCH_PG_POOL_MAX = String(options.pgPoolMax);
  if (options.pgConnectionTimeoutMs !== undefined) {
    env.BENCH_PG_CONNECT_TIMEOUT_MS = String(options.pgConnectionTimeoutMs);
  }
  const child = fork(script, [], {
    // BENCH_SERVER_CPU_PROF=<dir>: the server writes a V8 CPU profile there when it stops.
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.BENCH_SERVER_CPU_PROF
        ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_SERVER_CPU_PROF}`]
        : []),
    ],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env,
  });
  const { url, token } = await once<{ url: string; token: string }>(child);
  const ask = <T>(message: string) => {
    const reply = once<T>(child);
    child.send(message);
    return reply;
  };
  return {
    url,
    token,
    baseline: () => ask('baseline'),
    peak: () => ask('peak'),
    cpu: () => ask('cpu'),
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      await exited;
    },
  };
}

function once<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`bench server exited with ${code}`));
    child.once('message', (message) => {
      child.off('exit', onExit);
      resolve(message as T);
    });
    child.once('exit', onExit);
  });
}

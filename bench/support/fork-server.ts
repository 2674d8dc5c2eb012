import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/** A bench server running in a child process (see server-process.ts). */
export interface ForkedServer {
  readonly url: string;
  readonly token: string;
  /** Restarts the server's RSS peak; returns its current RSS in MB. */
  baseline(): Promise<{ rss_mb: number; max_rss_mb: number }>;
  /** The server's RSS peak since the baseline, and its lifetime max RSS, in MB. */
  peak(): Promise<{ rss_mb: number; max_rss_mb: number }>;
  stop(): Promise<void>;
}

/** Forks a bench server with the example schema on a temporary SQLite file. */
export async function forkBenchServer(): Promise<ForkedServer> {
  const script = fileURLToPath(new URL('./server-process.ts', import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
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
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.send('stop');
      await exited;
    },
  };
}

function once<T>(child: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve(message as T));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
}

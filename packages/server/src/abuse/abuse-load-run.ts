/* One run of the abuse load: one user opens 200 snapshot downloads and reads none of them, while
 * another user pushes; the server runs in a child process so its memory is its own. Used by the
 * abuse load tests (abuse-load.ts: what must hold) and by `bench/abuse-load.bench.ts` (how much
 * slower the other user's pushes get: a wall-clock ratio, which a test must not assert on).
 * Budgets: `rows` of the abuser (about 16 MB at 25,000: more than the socket buffers and the
 * client's own buffer hold, so an unread download stalls) and `pushes` of the other user per
 * phase (before, during and after the abuse). */
import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { signToken } from '../auth.js';
import { TEST_SECRET, pushBody, tempDir, todo } from '../test-support/harness.js';
import type { AbuseStoreKind } from './abuse-server.js';
import { longTodoPushBodies } from './long-todos.js';

export const ABUSIVE_SNAPSHOTS = 200;

export interface AbuseLoadOptions {
  readonly rows: number;
  readonly pushes: number;
  /** Fresh PostgreSQL schemas for a `postgres` run (the tests' and the benches' own helpers). */
  readonly postgres?: () => AbusePgSchemas;
}

/** Where a `postgres` run's server keeps its data, and how to remove it afterwards. */
export interface AbusePgSchemas {
  readonly databaseUrl: string;
  readonly meta: string;
  readonly business: string;
  drop(): Promise<void>;
}

/** What one run saw. Push times are per push, in ms, in the order they ran. */
export interface AbuseLoadRun {
  /** Snapshot downloads of the abuser answered 200 (streams it holds). */
  readonly streamed: number;
  /** Snapshot downloads of the abuser answered 429. */
  readonly refused: number;
  /** Answers of the abuser's downloads that were neither 200 nor 429 (statuses or errors). */
  readonly other: readonly (number | string)[];
  readonly baselineRssBytes: number;
  readonly peakRssBytes: number;
  readonly before: readonly number[];
  readonly during: readonly number[];
  readonly after: readonly number[];
}

/** Runs the abuse against a fresh server of `kind`; throws when a push of the other user fails. */
export async function runAbuseLoad(
  kind: AbuseStoreKind,
  options: AbuseLoadOptions,
): Promise<AbuseLoadRun> {
  const { child, url, cleanup } = await startChild(kind, options.postgres);
  try {
    const token = (userId: string) => signToken({ secret: TEST_SECRET, userId });
    const abuser = await token('abuser');
    const victim = await token('victim');
    await seed(url, abuser, options.rows);
    const victimList = todo.list();
    const source = randomUUID();
    let bundleId = 0;
    const push = async () => {
      bundleId++;
      const changes =
        bundleId === 1
          ? [victimList]
          : Array.from({ length: 5 }, () => todo.item(victimList.pk as string));
      const started = performance.now();
      const response = await fetch(`${url}/v1/push`, {
        method: 'POST',
        headers: { authorization: `Bearer ${victim}`, 'content-type': 'application/json' },
        body: JSON.stringify(pushBody(source, bundleId, changes)),
      });
      const text = await response.text();
      if (response.status !== 200) {
        throw new Error(`the other user's push ${bundleId} answered ${response.status}: ${text}`);
      }
      return performance.now() - started;
    };
    const timedPushes = async () => {
      const times: number[] = [];
      for (let i = 0; i < options.pushes; i++) times.push(await push());
      return times;
    };
    await push();
    const before = await timedPushes();
    const baseline = await request<{ rss: number }>(child, 'baseline');

    // The other user pushes while the abuser's requests arrive, are answered and stall.
    const controller = new AbortController();
    const abuse = Promise.all(
      Array.from({ length: ABUSIVE_SNAPSHOTS }, () =>
        fetch(`${url}/v1/snapshot`, {
          headers: { authorization: `Bearer ${abuser}` },
          signal: controller.signal,
        }).then(
          (response) => response.status,
          (error: unknown) => String(error),
        ),
      ),
    );
    const during = await timedPushes();
    const answers = await abuse;
    const peak = await request<{ rss: number }>(child, 'peak');
    controller.abort();
    const after = await timedPushes();
    return {
      streamed: answers.filter((s) => s === 200).length,
      refused: answers.filter((s) => s === 429).length,
      other: answers.filter((s) => s !== 200 && s !== 429),
      baselineRssBytes: baseline.rss,
      peakRssBytes: peak.rss,
      before,
      during,
      after,
    };
  } finally {
    await stopChild(child);
    await cleanup();
  }
}

/** The `q` quantile by nearest rank. */
export function percentile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

async function startChild(
  kind: AbuseStoreKind,
  postgres: (() => AbusePgSchemas) | undefined,
): Promise<{ child: ChildProcess; url: string; cleanup: () => Promise<void> }> {
  const env: Record<string, string> = { ...process.env, FERRY_ABUSE_STORE: kind };
  let cleanup: () => Promise<void>;
  if (kind === 'sqlite') {
    const temp = tempDir('ferry-abuse-load-');
    env.FERRY_ABUSE_DB = join(temp.dir, 'ferry.db');
    cleanup = async () => temp.cleanup();
  } else {
    if (postgres === undefined) throw new Error('a postgres run needs options.postgres');
    const schemas = postgres();
    env.DATABASE_URL = schemas.databaseUrl;
    env.FERRY_PG_META = schemas.meta;
    env.FERRY_PG_BUSINESS = schemas.business;
    cleanup = () => schemas.drop();
  }
  const script = fileURLToPath(new URL('./abuse-server-process.ts', import.meta.url));
  const child = fork(script, [], {
    env,
    execArgv: ['--import', 'tsx', '--conditions=@ferry/source', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', (m) => resolve(m as { url: string }));
    child.once('exit', (code) => reject(new Error(`the server process exited (${code})`)));
  });
  return { child, url, cleanup };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.send('stop');
  const timer = setTimeout(() => child.kill(), 10_000);
  await exited;
  clearTimeout(timer);
}

/** Gives the user of `token` one list and `rows` - 1 todos of long titles. */
async function seed(url: string, token: string, rows: number): Promise<void> {
  for (const body of longTodoPushBodies(rows)) {
    const response = await fetch(`${url}/v1/push`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (response.status !== 200) {
      throw new Error(`seeding answered ${response.status}: ${await response.text()}`);
    }
  }
}

function request<T>(child: ChildProcess, message: string): Promise<T> {
  return new Promise((resolve) => {
    child.once('message', (reply) => resolve(reply as T));
    child.send(message);
  });
}

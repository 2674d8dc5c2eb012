import { fork, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { afterEach, expect, it } from 'vitest';
import { PullResponseSchema, SnapshotLineSchema, type Bundle, type Change } from '@ferry/protocol';
import { pushBody, todo } from '../../test-support/harness.js';
import {
  DATABASE_URL,
  describePg,
  testSchemas,
  type TestSchemas,
} from './test-support/pg-test-database.js';
import { tokenFor } from './test-support/pg-test-server.js';

const SOURCES = 4;
const ALICE = 'alice';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface ServerChild {
  readonly url: string;
  readonly child: ChildProcess;
  kill(): Promise<void>;
}

async function startChild(schemas: TestSchemas): Promise<ServerChild> {
  const script = fileURLToPath(new URL('./test-support/pg-server-process.ts', import.meta.url));
  const child = fork(script, [], {
    execArgv: ['--import', 'tsx', '--conditions=@ferry/source'],
    env: {
      ...process.env,
      DATABASE_URL,
      FERRY_PG_META: schemas.meta,
      FERRY_PG_BUSINESS: schemas.business,
      FERRY_COMMIT_DELAY_MS: '15',
    },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const { url } = await new Promise<{ url: string }>((resolve, reject) => {
    child.once('message', (message) => resolve(message as { url: string }));
    child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
  });
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  cleanups.push(kill);
  return { url, child, kill };
}

interface SourceState {
  readonly sourceId: string;
  /** Bodies by sourceBundleId. */
  readonly bodies: Map<number, string>;
  /** Answers received, by sourceBundleId. */
  readonly answers: Map<number, string>;
  next: number;
  /** A push whose answer never came: it may or may not have committed. */
  unknown: number | undefined;
}

async function post(url: string, body: string): Promise<{ status: number; text: string }> {
  const response = await fetch(`${url}/v1/push`, {
    method: 'POST',
    headers: {
      authorization: `Bearer ${await tokenFor(ALICE)}`,
      'content-type': 'application/json',
    },
    body,
  });
  return { status: response.status, text: await response.text() };
}

describePg('a server killed with SIGKILL in the middle of a stream of pushes', () => {
  it('loses no bundle, duplicates none, and answers replays exactly after a restart', async () => {
    const schemas = testSchemas();
    cleanups.push(() => schemas.drop());
    let server = await startChild(schemas);
    const sources: SourceState[] = Array.from({ length: SOURCES }, () => ({
      sourceId: randomUUID(),
      bodies: new Map(),
      answers: new Map(),
      next: 1,
      unknown: undefined,
    }));
    const bodyFor = (source: SourceState, id: number) => {
      let body = source.bodies.get(id);
      if (!body) {
        const changes: Change[] = Array.from({ length: 3 }, () => todo.list());
        body = JSON.stringify(pushBody(source.sourceId, id, changes));
        source.bodies.set(id, body);
      }
      return body;
    };
    /** Each source pushes its next bundle, one at a time, until stopped or the server dies. */
    const stream = (url: string, until: () => boolean) =>
      Promise.all(
        sources.map(async (source) => {
          while (!until()) {
            const id = source.unknown ?? source.next;
            try {
              const answer = await post(url, bodyFor(source, id));
              expect(answer.status, answer.text).toBe(200);
              source.answers.set(id, answer.text);
              source.unknown = undefined;
              source.next = id + 1;
            } catch {
              source.unknown = id; // the connection died with the server
              return;
            }
          }
        }),
      );

    let answered = 0;
    const counting = () => sources.reduce((n, s) => n + s.answers.size, 0);
    const running = stream(server.url, () => false);
    while ((answered = counting()) < 40) await new Promise((resolve) => setTimeout(resolve, 5));
    await server.kill();
    await running;
    expect(answered).toBeGreaterThanOrEqual(40);
    const inFlight = sources.filter((s) => s.unknown !== undefined).length;
    expect(inFlight).toBeGreaterThan(0);

    server = await startChild(schemas);
    // Every last answered push, sent again, gets its stored answer byte for byte; unless the push
    // after it was in flight at the kill and committed, which makes it stale (and tells where).
    for (const source of sources) {
      const id = source.next - 1;
      const text = source.answers.get(id);
      if (text === undefined) continue;
      const again = await post(server.url, source.bodies.get(id)!);
      if (source.unknown !== undefined && again.status === 409) {
        expect(JSON.parse(again.text)).toMatchObject({
          error: { code: 'stale_bundle', details: { lastCommitted: source.unknown } },
        });
      } else {
        expect(again.text).toBe(text);
      }
    }
    // The sources resume: an in-flight push is retried with its id, then the stream goes on.
    let extra = 0;
    await stream(server.url, () => extra++ >= SOURCES * 5);

    const bundles: Bundle[] = [];
    for (let after = 0; ;) {
      const response = await fetch(`${server.url}/v1/pull?after=${after}&limit=1000`, {
        headers: { authorization: `Bearer ${await tokenFor(ALICE)}` },
      });
      const page = PullResponseSchema.parse(await response.json());
      bundles.push(...page.bundles);
      after = page.bundles.at(-1)?.bundleSeq ?? after;
      if (!page.hasMore) break;
    }
    expect(bundles.map((b) => b.bundleSeq)).toEqual(bundles.map((_, i) => i + 1));
    for (const source of sources) {
      const mine = bundles.filter((b) => b.sourceId === source.sourceId);
      // Each sourceBundleId committed exactly once, in order, and every answer is its bundle.
      expect(mine.map((b) => b.sourceBundleId)).toEqual(
        Array.from({ length: source.next - 1 }, (_, i) => i + 1),
      );
      for (const bundle of mine) {
        const answer = JSON.parse(source.answers.get(bundle.sourceBundleId!)!) as {
          bundleSeq: number;
          rows: unknown;
        };
        expect(answer.bundleSeq).toBe(bundle.bundleSeq);
        expect(answer.rows).toEqual(bundle.rows);
      }
    }
    // And every list that any answered push carried is there.
    const snapshot = await fetch(`${server.url}/v1/snapshot`, {
      headers: { authorization: `Bearer ${await tokenFor(ALICE)}` },
    });
    const lines = (await snapshot.text())
      .trim()
      .split('\n')
      .map((line) => SnapshotLineSchema.parse(JSON.parse(line)) as Record<string, unknown>);
    const pks = new Set(lines.filter((l) => 'table' in l).map((l) => l.pk));
    const pushed = sources.flatMap((s) =>
      [...s.answers.keys()].flatMap((id) =>
        (JSON.parse(s.bodies.get(id)!) as { changes: Change[] }).changes.map((c) => c.pk),
      ),
    );
    expect(pushed.every((pk) => pks.has(pk))).toBe(true);
    expect(pks.size).toBe(bundles.length * 3);
  });
});

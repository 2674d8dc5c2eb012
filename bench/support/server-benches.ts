/**
 * The server benches, one function each, run on either store: push (100,000 todos in bundles
 * of 1,000 from one source), pull (the same rows by a fresh cursor in pages of 5,000), and
 * snapshot (100,000 rows from a server in its own process, with its RSS peak). All over HTTP on
 * loopback. The result names get `_pg` on PostgreSQL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { forkBenchServer } from './fork-server.js';
import { rawPgInsert, rawSqliteInsert, type RawTodo } from './raw-inserts.js';
import { benchRows, perSecond, report, round, timed } from './report.js';
import { pushAll, startBenchServer, todoBundles, type BenchStore } from './todo-server.js';

const suffix = (store: BenchStore) => (store === 'postgres' ? '_pg' : '');

/**
 * The server's push path beside a raw insert of the same rows in the same run: on SQLite
 * better-sqlite3 in one transaction (`raw_insert_one_tx`) and one per bundle
 * (`raw_insert_per_bundle_tx`: a commit per bundle, as the server does); on PostgreSQL
 * multi-row INSERTs in one transaction (`raw_pg_insert`). `ratio`: the server's rate over the
 * one-transaction raw insert's (PostgreSQL: the multi-row INSERT's).
 */
export async function benchPush(store: BenchStore): Promise<void> {
  const rows = benchRows();
  const bundleSize = 1_000;
  const bodies = todoBundles(rows, bundleSize);
  const todos = todosOf(bodies);
  const dir = mkdtempSync(join(tmpdir(), 'ferry-bench-push-'));
  const bench = await startBenchServer({ store });
  try {
    const { value: committed, wallMs } = await timed(() => pushAll(bench.url, bench.token, bodies));
    const rate = perSecond(committed, wallMs);
    let baseline: number;
    if (store === 'postgres') {
      const raw = await rawPgInsert(todos);
      report({ bench: 'raw_pg_insert', ...raw });
      baseline = raw.rows_per_s;
    } else {
      const oneTx = rawSqliteInsert(todos, dir);
      report({ bench: 'raw_insert_one_tx', ...oneTx });
      report({ bench: 'raw_insert_per_bundle_tx', ...rawSqliteInsert(todos, dir, bundleSize) });
      baseline = oneTx.rows_per_s;
    }
    report({
      bench: `server_push${suffix(store)}`,
      n: committed,
      wall_ms: wallMs,
      rows_per_s: rate,
      bundle_size: bundleSize,
      ratio: round(rate / baseline),
    });
  } finally {
    await bench.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The todos of push bodies (from `todoBundles`), for the raw baselines. */
function todosOf(bodies: readonly string[]): RawTodo[] {
  return bodies.flatMap((body) =>
    (JSON.parse(body) as { changes: { table: string; row: Record<string, unknown> }[] }).changes
      .filter((change) => change.table === 'todos')
      .map((change) => ({
        id: change.row['id'] as string,
        listId: change.row['list_id'] as string,
        title: change.row['title'] as string,
        position: change.row['position'] as number,
      })),
  );
}

export async function benchPull(store: BenchStore): Promise<void> {
  const rows = benchRows();
  const limit = 5_000;
  const bench = await startBenchServer({ store });
  try {
    await pushAll(bench.url, bench.token, todoBundles(rows, 1_000));
    const { value, wallMs } = await timed(async () => {
      let after = 0;
      let pulled = 0;
      let pages = 0;
      for (;;) {
        const response = await fetch(`${bench.url}/v1/pull?after=${after}&limit=${limit}`, {
          headers: { authorization: `Bearer ${bench.token}` },
        });
        if (response.status !== 200) throw new Error(`pull failed: ${response.status}`);
        const page = (await response.json()) as {
          bundles: { bundleSeq: number; rows: unknown[] }[];
          hasMore: boolean;
        };
        pages++;
        for (const bundle of page.bundles) {
          pulled += bundle.rows.length;
          after = bundle.bundleSeq;
        }
        if (!page.hasMore) return { pulled, pages };
      }
    });
    report({
      bench: `server_pull${suffix(store)}`,
      n: value.pulled,
      wall_ms: wallMs,
      rows_per_s: perSecond(value.pulled, wallMs),
      page_limit: limit,
      pages: value.pages,
    });
  } finally {
    await bench.close();
  }
}

export async function benchSnapshot(store: BenchStore): Promise<void> {
  const rows = benchRows();
  const server = await forkBenchServer({ store });
  try {
    await pushAll(server.url, server.token, todoBundles(rows, 1_000));
    const before = await server.baseline();
    const { value: streamed, wallMs } = await timed(async () => {
      const response = await fetch(`${server.url}/v1/snapshot`, {
        headers: { authorization: `Bearer ${server.token}` },
      });
      if (response.status !== 200) throw new Error(`snapshot failed: ${response.status}`);
      let lines = 0;
      const reader = response.body!.getReader();
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        for (const byte of value) if (byte === 10) lines++;
      }
      return lines - 2;
    });
    const after = await server.peak();
    report({
      bench: `server_snapshot${suffix(store)}`,
      n: streamed,
      wall_ms: wallMs,
      rows_per_s: perSecond(streamed, wallMs),
      server_rss_before_mb: before.rss_mb,
      server_peak_rss_mb: after.rss_mb,
      server_max_rss_mb: after.max_rss_mb,
    });
  } finally {
    await server.stop();
  }
}

/**
 * The set-based fold against its specification, the pure `foldLog`, on random logs over a real
 * SQLite file. Prints its seed; replay with
 * `SEED=… npx vitest run packages/client/src/local/fold-capture-log.test.ts`.
 */
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { TEMP_TABLES_SQL } from './local-schema-sql.js';
import { SerialDatabase } from '../driver/serial-database.js';
import type { SqlValue, SqliteDriver } from '../driver/sqlite-driver.js';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { countingDriver } from '../drivers/test-support/counting-driver.js';
import { METADATA_SQL } from './local-schema-sql.js';
import { pendingOf, readPending, writePending, type PendingEntry } from './metadata.js';
import { createSeededRandom } from '../scheduler/seeded-random.js';
import { foldLog, rowKeyOf, type LogLine, type PendingOp } from '../outbox/coalesce.js';
import { KEEPER, foldCaptureLog } from './fold-capture-log.js';

const SEED =
  process.env['SEED'] === undefined ? Date.now() % 1_000_000 : Number(process.env['SEED']);
const CASES = Number(process.env['FERRY_FOLD_CASES'] ?? 300);
const NOW = 1_000_000;

const open: SerialDatabase[] = [];
afterEach(async () => {
  for (const db of open.splice(0)) await db.close();
});

async function freshDatabase(driver?: SqliteDriver): Promise<SerialDatabase> {
  const db = new SerialDatabase(driver ?? betterSqlite3Driver(new Database(':memory:')));
  open.push(db);
  await db.exec(METADATA_SQL);
  await db.exec(TEMP_TABLES_SQL);
  return db;
}

interface Scenario {
  readonly existing: PendingEntry[];
  readonly lines: LogLine[];
  /** Rows the file knows alive on the server (`ferry_rows`). */
  readonly alive?: readonly [string, string | number][];
}

const OPS: readonly PendingOp[] = ['I', 'U', 'D'];
const KEYS: readonly [string, string | number][] = [
  ['a', 'x'],
  ['a', 'y'],
  ['a', 1],
  ['a', '1'],
  ['b', 'x'],
  ['b', 2],
];

function randomScenario(random: () => number, firstSeq: number): Scenario {
  const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
  const existing: PendingEntry[] = [];
  for (const [tbl, pk] of KEYS) {
    if (random() < 0.4) {
      const pinned = random() < 0.5;
      existing.push({
        tbl,
        pk,
        op: pick(OPS),
        firstGroup: 1 + Math.floor(random() * 5),
        lastGroup: 6 + Math.floor(random() * 5),
        firstAt: 500 + Math.floor(random() * 100),
        pinned,
        pinVersion: pinned ? Math.floor(random() * 10) : null,
        pinBase: pinned && random() < 0.5 ? { id: String(pk), v: 1 } : null,
      });
    }
  }
  const lines: LogLine[] = [];
  let seq = firstSeq + Math.floor(random() * 10);
  const length = Math.floor(random() * 14);
  for (let i = 0; i < length; i++) {
    seq += 1 + Math.floor(random() * 2);
    if (random() < 0.25) {
      lines.push({ seq, tbl: null, pk: null, op: 'B', at: random() < 0.8 ? 900 + seq : null });
    } else {
      const [tbl, pk] = pick(KEYS);
      lines.push({ seq, tbl, pk, op: pick(OPS), at: null });
    }
  }
  const alive = KEYS.filter(() => random() < 0.3);
  return { existing, lines, alive };
}

function aliveCheck(scenario: Scenario): (tbl: string, pk: unknown) => boolean {
  const keys = new Set((scenario.alive ?? []).map(([tbl, pk]) => rowKeyOf(tbl, pk)));
  return (tbl, pk) => keys.has(rowKeyOf(tbl, pk));
}

/** The specification's fold of the whole log over the scenario's existing entries. */
function specFold(scenario: Scenario) {
  const byKey = new Map(scenario.existing.map((e) => [rowKeyOf(e.tbl, e.pk), e]));
  const result = foldLog(
    scenario.lines,
    (tbl, pk) => byKey.get(rowKeyOf(tbl, pk)),
    { group: null, at: null },
    NOW,
    aliveCheck(scenario),
  );
  return { byKey, result };
}

/** What the outbox must hold after the fold: `foldLog` over the whole log, pins kept. */
function expectedOutbox(scenario: Scenario): PendingEntry[] {
  const { byKey, result } = specFold(scenario);
  const out = new Map(byKey);
  for (const [key, head] of result.heads) {
    const previous = byKey.get(key);
    if (head === null) out.delete(key);
    else {
      out.set(key, {
        ...head,
        pinned: previous?.pinned ?? false,
        pinVersion: previous?.pinVersion ?? null,
        pinBase: previous?.pinBase ?? null,
      });
    }
  }
  return sortEntries([...out.values()]);
}

/** The rows whose entry `foldLog` folds to nothing: an insert undone by a delete. */
function expectedCancelled(scenario: Scenario): string[] {
  return [...specFold(scenario).result.heads]
    .filter(([, head]) => head === null)
    .map(([key]) => key)
    .sort();
}

async function cancelledRows(db: SerialDatabase): Promise<string[]> {
  const rows = await db.all<{ tbl: string; pk: string | number }>(
    'SELECT tbl, pk FROM ferry_cancelled',
  );
  return rows.map((r) => rowKeyOf(r.tbl, r.pk)).sort();
}

async function actualOutbox(db: SerialDatabase): Promise<PendingEntry[]> {
  const rows = await db.all<Parameters<typeof pendingOf>[0]>(
    'SELECT tbl, pk, op, first_group, last_group, first_at, pinned, pin_version, pin_base FROM ferry_outbox',
  );
  return sortEntries(rows.map(pendingOf));
}

function sortEntries(entries: PendingEntry[]): PendingEntry[] {
  const key = (e: PendingEntry) => `${e.tbl}/${typeof e.pk}/${String(e.pk)}`;
  return entries.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

async function load(db: SerialDatabase, scenario: Scenario): Promise<void> {
  await db.exec('DELETE FROM ferry_rows');
  for (const [tbl, pk] of scenario.alive ?? []) {
    await db.run('INSERT INTO ferry_rows (tbl, pk, version, deleted) VALUES (?, ?, 1, 0)', [
      tbl,
      pk,
    ]);
  }
  for (const e of scenario.existing) await writePending(db, e);
  for (const line of scenario.lines) {
    await db.run('INSERT INTO ferry_log (seq, tbl, pk, op, at) VALUES (?, ?, ?, ?, ?)', [
      line.seq,
      line.tbl,
      line.pk as SqlValue,
      line.op,
      line.at,
    ]);
  }
}

describe('foldCaptureLog', () => {
  it(`folds random logs exactly as foldLog specifies (seed ${SEED})`, async () => {
    console.log(`fold-capture-log seed ${SEED}; replay with SEED=${SEED}`);
    const random = createSeededRandom(SEED);
    const db = await freshDatabase();
    let lastSeq = 0;
    for (let n = 0; n < CASES; n++) {
      // The keeper line of the previous fold stays: it must not change the next fold.
      const scenario = randomScenario(random, lastSeq + 1);
      await db.exec('DELETE FROM ferry_outbox');
      await load(db, scenario);
      const folded = await db.transaction((tx) => foldCaptureLog(tx, NOW));
      expect(folded, `case ${n}`).toBe(scenario.lines.length);
      expect(await actualOutbox(db), `case ${n}: ${JSON.stringify(scenario)}`).toEqual(
        expectedOutbox(scenario),
      );
      expect(await cancelledRows(db), `case ${n}: cancelled`).toEqual(expectedCancelled(scenario));
      await db.exec('DELETE FROM ferry_cancelled');
      const log = await db.all<{ seq: number; op: string }>('SELECT seq, op FROM ferry_log');
      if (scenario.lines.length > 0) {
        lastSeq = scenario.lines[scenario.lines.length - 1]!.seq;
        expect(log).toEqual([{ seq: lastSeq, op: KEEPER }]);
      } else {
        expect(log).toEqual(lastSeq === 0 ? [] : [{ seq: lastSeq, op: KEEPER }]);
      }
    }
  });

  it('coalesces a whole write lifecycle: insert, updates and delete of a new row leave nothing', async () => {
    const db = await freshDatabase();
    await load(db, {
      existing: [],
      lines: [
        { seq: 1, tbl: null, pk: null, op: 'B', at: 100 },
        { seq: 2, tbl: 'a', pk: 'x', op: 'I', at: null },
        { seq: 3, tbl: 'a', pk: 'y', op: 'I', at: null },
        { seq: 4, tbl: null, pk: null, op: 'B', at: 200 },
        { seq: 5, tbl: 'a', pk: 'x', op: 'U', at: null },
        { seq: 6, tbl: 'a', pk: 'x', op: 'D', at: null },
        { seq: 7, tbl: 'a', pk: 'y', op: 'U', at: null },
      ],
    });
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    expect(await readPending(db, 'a', 'x')).toBeUndefined();
    expect(await readPending(db, 'a', 'y')).toEqual({
      tbl: 'a',
      pk: 'y',
      op: 'I',
      firstGroup: 1,
      lastGroup: 4,
      firstAt: 100,
      pinned: false,
      pinVersion: null,
      pinBase: null,
    });
  });

  it('journals an insert undone before any push, until the app writes that row again in a later fold', async () => {
    const db = await freshDatabase();
    await load(db, {
      existing: [],
      lines: [
        { seq: 1, tbl: null, pk: null, op: 'B', at: 100 },
        { seq: 2, tbl: 'a', pk: 'x', op: 'I', at: null },
        { seq: 3, tbl: 'a', pk: 'x', op: 'D', at: null },
      ],
    });
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    expect(await cancelledRows(db)).toEqual([rowKeyOf('a', 'x')]);
    await db.run("INSERT INTO ferry_log (op, at) VALUES ('B', 200)");
    await db.run("INSERT INTO ferry_log (tbl, pk, op) VALUES ('a', 'y', 'I')");
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    expect(await cancelledRows(db)).toEqual([rowKeyOf('a', 'x')]);
    await db.run("INSERT INTO ferry_log (op, at) VALUES ('B', 300)");
    await db.run("INSERT INTO ferry_log (tbl, pk, op) VALUES ('a', 'x', 'I')");
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    expect(await cancelledRows(db)).toEqual([]);
    expect((await readPending(db, 'a', 'x'))?.op).toBe('I');
  });

  it('keeps the log sequence growing, so a write after a fold gets a later group than every earlier one', async () => {
    const db = await freshDatabase();
    await db.run("INSERT INTO ferry_log (op, at) VALUES ('B', 1)");
    await db.run("INSERT INTO ferry_log (tbl, pk, op) VALUES ('a', 'x', 'I')");
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    await db.run("INSERT INTO ferry_log (op, at) VALUES ('B', 2)");
    await db.run("INSERT INTO ferry_log (tbl, pk, op) VALUES ('a', 'y', 'I')");
    await db.transaction((tx) => foldCaptureLog(tx, NOW));
    const groups = await db.all('SELECT pk, first_group FROM ferry_outbox ORDER BY pk');
    expect(groups).toEqual([
      { pk: 'x', first_group: 1 },
      { pk: 'y', first_group: 3 },
    ]);
  });

  it('folds any log in a constant number of statements, and an empty one in one', async () => {
    const { driver: counting, statements } = countingDriver();
    const db = await freshDatabase(counting);
    const count = async () => {
      const before = statements();
      await db.transaction((tx) => foldCaptureLog(tx, NOW));
      return statements() - before - 2; // BEGIN and COMMIT
    };
    expect(await count()).toBe(1);
    await load(db, { existing: [], lines: [{ seq: 1, tbl: 'a', pk: 'p', op: 'I', at: null }] });
    await count();
    // Only the keeper line is left: nothing to fold.
    expect(await count()).toBe(1);
    const lines: LogLine[] = [];
    for (let i = 2; i <= 5_000; i++) {
      lines.push(
        i % 10 === 1
          ? { seq: i, tbl: null, pk: null, op: 'B', at: i }
          : { seq: i, tbl: 'a', pk: `row-${i % 700}`, op: i % 7 === 0 ? 'U' : 'I', at: null },
      );
    }
    await load(db, { existing: [], lines: lines.slice(0, 50) });
    const small = await count();
    await load(db, { existing: [], lines: lines.slice(50) });
    expect(await count()).toBe(small);
    expect(small).toBe(7);
  });
});

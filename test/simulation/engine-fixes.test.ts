/**
 * Engine bugs the simulator found, each reproduced on purpose over real HTTP (the seed that
 * found it is replayed in regression-seeds.test.ts).
 */
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  pathOf,
  rowsOf,
  serverRows,
  startHarness,
  uuid,
  type Harness,
} from '../support/ferry-harness.js';

describe('engine fixes found by the simulator', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness();
  });
  afterEach(async () => {
    await h.close();
  });

  it('an edit made while a bundle is in flight reaches the server and does not re-create a row the server deleted when the server row is adopted (seed 5)', async () => {
    const a = await h.client('a', 'alice', { resolvers: { lists: 'server-wins' } });
    const b = await h.client('b');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'first' }));
    await a.sync();
    await b.sync();
    await b.write((tx) => tx.delete('lists', listId));
    await b.sync();

    await a.write((tx) => tx.update('lists', listId, { name: 'edited offline' }));
    // The pull brings the delete while the edit is pending: the edit is pinned to version 1.
    await a.sync({ kind: 'pull' });
    let once = true;
    const sent: string[] = [];
    const a2 = await h.client('a', 'alice', {
      resolvers: { lists: 'server-wins' },
      fetch: async (input, init) => {
        sent.push(bodyText(init));
        if (once && pathOf(input) === '/v1/sync' && bodyText(init).includes('"push":{')) {
          once = false;
          writeAside(h.dbPath('a'), 'UPDATE lists SET name = ? WHERE id = ?', [
            'edited in flight',
            listId,
          ]);
        }
        return fetch(input, init);
      },
    });
    await a.close();
    const first = await a2.sync();
    const second = await a2.sync();
    // The edit made in flight (still in the capture log when the 409 came) is not lost without a
    // trace: it is pushed, against the version it was made on, so it meets the server's delete
    // and the resolver (server-wins) settles it like the first edit, instead of re-creating
    // the row.
    expect(sent.some((body) => body.includes('edited in flight'))).toBe(true);
    const settled = [...first.conflicts, ...second.conflicts].filter((c) => c.pk === listId);
    expect(settled.map((c) => c.outcome)).toEqual(['adopt-server', 'adopt-server']);
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
    expect(await rowsOf(a2, 'lists')).toEqual([]);
    expect(await a2.readStatus()).toMatchObject({ pending: 0, inFlight: null, conflicts: 0 });
  });

  it("an edit made on a row whose bundle is in flight stays on that bundle's base through a hydration, so a delete meanwhile is not undone (seed 412252115)", async () => {
    const options = { resolvers: { lists: 'server-wins' as const } };
    const b = await h.client('b');
    const listId = uuid();
    await b.write((tx) => tx.insert('lists', { id: listId, name: 'first' }));
    await b.sync();
    let lose = true;
    const a = await h.client('a', 'alice', {
      ...options,
      fetch: async (input, init) => {
        // The first push is lost before it reaches the server: its bundle stays in flight.
        if (lose && bodyText(init).includes('"push":{')) {
          lose = false;
          throw new TypeError('fetch failed');
        }
        return fetch(input, init);
      },
    });
    await a.sync();
    await a.write((tx) => tx.update('lists', listId, { name: 'edited, in flight' }));
    await expect(a.sync()).rejects.toMatchObject({ code: 'network' });
    await b.write((tx) => tx.delete('lists', listId));
    await b.sync();
    // a learns of the delete while its bundle is in flight: the row stays (local intent).
    await a.sync({ kind: 'pull' });
    await a.write((tx) => tx.update('lists', listId, { name: 'edited again' }));
    await a.hydrate();
    await a.sync();
    await a.sync();
    // server-wins: the delete stands for both edits; neither re-creates the row.
    expect(await serverRows(h, 'alice', 'lists')).toEqual([]);
    expect(await rowsOf(a, 'lists')).toEqual([]);
    expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: null });
  });

  it('a bundle committed at or below the checkpoint is settled on the next cycle instead of blocking the outbox (seed 13)', async () => {
    const a = await h.client('a');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'committed' }));
    // The answer to the push is lost; then a snapshot brings the bundle's rows (seq 1).
    let lose = true;
    const lossy = await h.client('a', 'alice', {
      fetch: async (input, init) => {
        const response = await fetch(input, init);
        if (lose && pathOf(input) === '/v1/sync') {
          lose = false;
          throw new TypeError('fetch failed');
        }
        return response;
      },
    });
    await a.close();
    await expect(lossy.sync()).rejects.toMatchObject({ code: 'network' });
    await lossy.hydrate();
    expect(await lossy.readStatus()).toMatchObject({
      checkpoint: 1,
      inFlight: { sourceBundleId: 1, committedSeq: null },
    });
    await lossy.close();
    // The resend is answered as a replay of seq 1 ≤ checkpoint, and the client records that
    // (how the bundle committed, and its rows as committed, in one transaction); a crash right
    // then leaves exactly this in the file:
    const [committed] = await serverRows(h, 'alice', 'lists');
    const raw = new Database(h.dbPath('a'));
    raw.prepare('UPDATE ferry_bundle SET committed_seq = 1 WHERE id = 1').run();
    raw
      .prepare('INSERT INTO ferry_committed (tbl, pk, version, row) VALUES (?, ?, 1, ?)')
      .run('lists', listId, JSON.stringify(committed));
    raw.close();

    const restarted = await h.client('a');
    await restarted.write((tx) => tx.update('lists', listId, { name: 'after the crash' }));
    await restarted.sync();
    expect(await restarted.readStatus()).toMatchObject({
      pending: 0,
      inFlight: null,
      checkpoint: 2,
    });
    expect((await serverRows(h, 'alice', 'lists'))[0]).toMatchObject({ name: 'after the crash' });
  });
});

/** A write through a connection of its own (another process, say): captured, not folded. */
function writeAside(path: string, sql: string, params: readonly unknown[]): void {
  const raw = new Database(path);
  raw.pragma('busy_timeout = 5000');
  raw.prepare(sql).run(...params);
  raw.close();
}

function bodyText(init: RequestInit | undefined): string {
  return typeof init?.body === 'string' ? init.body : '';
}

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { copyDatabase } from '../support/copy-database.js';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** Row states of deleted rows a client file keeps. */
async function localTombstones(client: Awaited<ReturnType<Harness['client']>>): Promise<number> {
  const [row] = await client.query<{ n: number }>(
    'SELECT count(*) AS n FROM ferry_rows WHERE deleted = 1',
  );
  return row!.n;
}

describe('tombstones purged with pruned history', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness({ server: { retention: { maxBundlesPerUser: 1, intervalMs: 0 } } });
  });
  afterEach(async () => {
    await h.close();
  });

  it('go with the history; a device behind the floor hydrates and its edit of the deleted row waits as a manual conflict; a re-insert over a purged tombstone is no conflict', async () => {
    const a = await h.client('a');
    const b = await h.client('b');
    const [list, other] = [uuid(), uuid()];
    await a.write((tx) => {
      tx.insert('lists', { id: list, name: 'L' });
      tx.insert('lists', { id: other, name: 'kept' });
    });
    await a.sync();
    await b.sync();
    // b edits the list offline while a deletes it, then history moves on.
    await b.write((tx) => tx.update('lists', list, { name: 'edited offline' }));
    await a.write((tx) => tx.delete('lists', list));
    await a.sync();
    for (let i = 0; i < 3; i++) {
      await a.write((tx) => tx.update('lists', other, { name: `kept ${i}` }));
      await a.sync();
    }
    const before = await h.server.prune();
    expect(before.tombstonesPurged).toBe(1);
    expect(before.tombstones).toBe(0);
    expect(await h.server.metrics.registry.getSingleMetricAsString('ferry_tombstones')).toMatch(
      /ferry_tombstones 0/,
    );

    // b is behind the floor: it hydrates, and its edit of a row deleted meanwhile becomes a
    // manual conflict the app sees (the server has no state of the row left to judge it by);
    // nothing comes back silently.
    const report = await b.sync();
    expect(report.hydrated).toBe(true);
    expect(report.conflicts).toEqual([expect.objectContaining({ pk: list, outcome: 'manual' })]);
    const [conflict] = await b.conflicts();
    expect(conflict).toMatchObject({ pk: list, local: { name: 'edited offline' }, server: null });
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l['id'])).toEqual([other]);
    await b.resolveConflict(conflict!.id, 'server');
    await b.sync();
    expect(await rowsOf(b, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));

    // a saw the delete: its re-insert of the same id is no conflict, tombstone purged or not.
    // The pull told it the floor, and it forgot its own tombstone of the row too.
    expect(await localTombstones(a)).toBe(1);
    await a.sync();
    expect(await localTombstones(a)).toBe(0);
    await a.write((tx) => tx.insert('lists', { id: list, name: 'again' }));
    const again = await a.sync();
    expect(again.conflicts).toEqual([]);
    expect((await serverRows(h, 'alice', 'lists')).find((l) => l['id'] === list)).toMatchObject({
      name: 'again',
    });
  });

  it('an insert a restored file pushed before its backup was lost, then deleted by another device and its tombstone purged, is not brought back silently: it waits as a manual conflict', async () => {
    let a = await h.client('a');
    await a.sync();
    const list = uuid();
    await a.write((tx) => tx.insert('lists', { id: list, name: 'pushed after the backup' }));
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath('a-backup'));
    a = await h.client('a');
    await a.sync();
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'second bundle' }));
    await a.sync();
    await a.close();
    // Another device deletes the list; history moves on and is pruned with its tombstone.
    const b = await h.client('b');
    await b.sync();
    await b.write((tx) => tx.delete('lists', list));
    await b.sync();
    for (let i = 0; i < 2; i++) {
      await b.write((tx) => tx.insert('lists', { id: uuid(), name: `later ${i}` }));
      await b.sync();
    }
    expect(await h.server.prune()).toMatchObject({ tombstonesPurged: 1 });

    // The restored file holds the insert as never pushed: stale_bundle, a new source id, and
    // the insert goes out saying it may have been pushed. The server, with no state of the row
    // left, cannot tell a new row from one deleted since: a conflict, not a silent re-creation.
    copyDatabase(h.dbPath('a-backup'), h.dbPath('a'));
    a = await h.client('a');
    const report = await a.sync();
    expect(report.hydrated).toBe(true);
    expect(await a.conflicts()).toEqual([
      expect.objectContaining({
        pk: list,
        server: null,
        local: expect.objectContaining({ id: list }),
      }),
    ]);
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l['id'])).not.toContain(list);
    // The app decides: keeping its own re-creates the row, once.
    const [conflict] = await a.conflicts();
    await a.resolveConflict(conflict!.id, 'client');
    await a.sync();
    expect((await serverRows(h, 'alice', 'lists')).map((l) => l['id'])).toContain(list);
    expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
  });
});

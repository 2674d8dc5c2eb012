import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

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
    await a.sync();
    await a.write((tx) => tx.insert('lists', { id: list, name: 'again' }));
    const again = await a.sync();
    expect(again.conflicts).toEqual([]);
    expect((await serverRows(h, 'alice', 'lists')).find((l) => l['id'] === list)).toMatchObject({
      name: 'again',
    });
  });
});

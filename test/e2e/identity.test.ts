/**
 * Copies of files and backups: a client file copied to a second install (two writers with one
 * source id), a client restored from an old backup of itself, and a server restored from an old
 * backup or replaced by another database. Nothing written may be lost, over real HTTP.
 */
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { ClientOptions, FerryClient } from '@ferry/client';
import type { TodoSchema } from '@ferry/example-todo';
import { startFaultProxy } from '../fault-proxy/fault-proxy.js';
import { copyDatabase } from '../support/copy-database.js';
import {
  pathOf,
  rowsOf,
  serverRows,
  startHarness,
  uuid,
  type Harness,
} from '../support/ferry-harness.js';

type Client = FerryClient<TodoSchema>;

describe('installs and backups that share an identity', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  async function titles(table: 'lists' | 'todos', of: Client | null = null): Promise<string[]> {
    const rows = of ? await rowsOf(of, table) : await serverRows(h, 'alice', table);
    return rows.map((r) => String(r[table === 'lists' ? 'name' : 'title'])).sort();
  }

  /**
   * Device a with a synced list, its file copied to `copy` while it was closed (the copy opens
   * with `options`); returns a (open again), the list and the copy's client.
   */
  async function syncedAndCopied(copy: string, options: Partial<ClientOptions<TodoSchema>> = {}) {
    let a = await h.client('a');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'shared' }));
    await a.sync();
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath(copy));
    a = await h.client('a');
    const b = await h.client(copy, 'alice', options);
    return { a, b, listId };
  }

  /**
   * Device a, synced, writes a list it has not pushed; its file is copied to b while it is
   * closed: both files hold the same pending insert.
   */
  async function copiedWithPendingInsert() {
    h = await startHarness();
    let a = await h.client('a');
    await a.sync();
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'in both files' }));
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath('b'));
    a = await h.client('a');
    const b = await h.client('b');
    return { a, b, listId };
  }

  /** Stops the server, copies its database aside as the operator's backup, starts it again. */
  async function backUpServer() {
    await h.stopServer();
    copyDatabase(h.serverPath, `${h.serverPath}.backup`);
    await h.startServer();
  }

  /** Stops the server, puts the backup of {@link backUpServer} back, starts it again. */
  async function restoreServer() {
    await h.stopServer();
    copyDatabase(`${h.serverPath}.backup`, h.serverPath);
    await h.startServer();
  }

  /**
   * A fresh server; device `a` inserts a list named `name`, both `a` and `peer` (alice) have it,
   * and the server is backed up (see {@link backUpServer}).
   */
  async function listOnTwoDevicesBackedUp(name: string) {
    h = await startHarness();
    const a = await h.client('a');
    const peer = await h.client('peer');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name }));
    await a.sync();
    await peer.sync();
    await backUpServer();
    return { a, peer, listId };
  }

  /** `client` inserts a list and takes it to version 4, syncing each write. */
  async function listAtVersion4(client: Client): Promise<string> {
    const listId = uuid();
    await client.write((tx) => tx.insert('lists', { id: listId, name: 'v1' }));
    await client.sync();
    for (const name of ['v2', 'v3', 'v4']) {
      await client.write((tx) => tx.update('lists', listId, { name }));
      await client.sync();
    }
    return listId;
  }

  async function expectConverged(...clients: Client[]) {
    for (const client of clients) {
      await client.sync();
      for (const table of ['lists', 'todos'] as const) {
        expect(await rowsOf(client, table)).toEqual(await serverRows(h, 'alice', table));
      }
      expect(await client.readStatus()).toMatchObject({
        pending: 0,
        inFlight: null,
        deadLetters: 0,
        conflicts: 0,
      });
    }
  }

  it('a copied client file gets bundle_mismatch for its own bundle, rotates its source id and pushes it again: both installs keep their writes', async () => {
    h = await startHarness();
    const { a, b, listId } = await syncedAndCopied('b');
    expect(b.sourceId).toBe(a.sourceId);
    const shared = a.sourceId;

    await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'from a' }));
    await a.sync();
    await b.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'from b' }));
    const report = await b.sync();

    expect(report.hydrated).toBe(true);
    expect(b.sourceId).not.toBe(shared);
    expect(a.sourceId).toBe(shared);
    expect(b.metrics()).toMatchObject({ sourceRotations: 1 });
    expect((await b.readStatus()).sourceId).toBe(b.sourceId);
    expect(await titles('todos')).toEqual(['from a', 'from b']);
    await expectConverged(a, b);
  });

  it('a copied client file that pulls the other install’s bundle under its own id does not take it for its own', async () => {
    h = await startHarness();
    let dieBeforeSending = true;
    const { a, b, listId } = await syncedAndCopied('b', {
      hooks: {
        at(point) {
          if (point === 'after-freeze-before-send' && dieBeforeSending) {
            dieBeforeSending = false;
            throw new Error('the process died before sending');
          }
        },
      },
    });
    // b freezes its bundle 2 and dies before sending it; a commits its own bundle 2.
    await b.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'from b' }));
    await expect(b.sync()).rejects.toThrow(/died before sending/);
    expect((await b.readStatus()).inFlight).toMatchObject({ sourceBundleId: 2 });
    await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'from a' }));
    await a.sync();

    // b pulls a's bundle 2: same source id, same bundle id, other changes (its digest says so).
    await b.sync({ kind: 'pull' });
    expect(b.sourceId).not.toBe(a.sourceId);
    expect(await titles('todos', b)).toEqual(['from a', 'from b']);
    await b.sync();
    expect(await titles('todos')).toEqual(['from a', 'from b']);
    await expectConverged(a, b);
  });

  it('a client restored from an old backup of itself gets stale_bundle, rotates, hydrates what it lost and pushes its new writes', async () => {
    h = await startHarness();
    let a = await h.client('a');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'inbox' }));
    await a.sync();
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath('a-backup'));
    a = await h.client('a');
    for (const title of ['after the backup 1', 'after the backup 2']) {
      await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title }));
      await a.sync();
    }
    await a.close();
    copyDatabase(h.dbPath('a-backup'), h.dbPath('a'));
    a = await h.client('a');
    const before = a.sourceId;
    expect(await titles('todos', a)).toEqual([]);

    await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'restored' }));
    const report = await a.sync();

    expect(report.hydrated).toBe(true);
    expect(a.sourceId).not.toBe(before);
    expect(await titles('todos')).toEqual(['after the backup 1', 'after the backup 2', 'restored']);
    await expectConverged(a);
    // The next start keeps the rotated id, also when the app passes the file's first one.
    await a.close();
    const again = await h.client('a', 'alice', { sourceId: before });
    expect(again.sourceId).not.toBe(before);
  });

  it('a client restored from a backup that held an unpushed insert, which the file pushed after the backup, deletes the row when the app deletes it', async () => {
    h = await startHarness();
    let a = await h.client('a');
    await a.sync();
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'written before the backup' }));
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath('a-backup'));
    a = await h.client('a');
    await a.sync();
    await a.close();
    expect(await titles('lists')).toEqual(['written before the backup']);
    // Restored, the file has the insert pending again: the app deletes the list, which, as far
    // as the file knows, was never pushed (insert then delete: nothing to push).
    copyDatabase(h.dbPath('a-backup'), h.dbPath('a'));
    a = await h.client('a');
    await a.write((tx) => tx.delete('lists', listId));
    expect((await a.readStatus()).pending).toBe(0);
    await a.sync();
    // The file finds that it is behind its own history (its source is rotated), and the delete
    // it folded away goes out after all.
    await a.sync();

    expect(await titles('lists')).toEqual([]);
    await expectConverged(a);
  });

  it('a copied file whose twin pushed an insert they both held deletes the row when its app deletes it', async () => {
    const { a, b, listId } = await copiedWithPendingInsert();
    await b.sync();
    await a.write((tx) => tx.delete('lists', listId));
    await a.sync();
    await a.sync();

    expect(await titles('lists')).toEqual([]);
    await expectConverged(a, b);
  });

  it('a copied file keeps a row it undid once a snapshot brought it back and the app built on it', async () => {
    const { a, b, listId } = await copiedWithPendingInsert();
    await a.sync();
    // b undoes the insert, then a snapshot shows the list again and b's app adds a todo to it.
    await b.write((tx) => tx.delete('lists', listId));
    await b.hydrate();
    expect(await titles('lists', b)).toEqual(['in both files']);
    await b.write((tx) =>
      tx.insert('todos', { id: uuid(), list_id: listId, title: 'built on it' }),
    );
    await b.sync();
    await b.sync();

    expect(await titles('lists')).toEqual(['in both files']);
    expect(await titles('todos')).toEqual(['built on it']);
    await expectConverged(a, b);
  });

  it('a copied file deletes again a row it undid that a snapshot brought back, once its next push shows the twin, with what others built on it', async () => {
    const { a, b, listId } = await copiedWithPendingInsert();
    await a.sync();
    // The twin builds on the list; b undoes the insert, then a snapshot brings both back.
    await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'by a' }));
    await a.sync();
    await b.write((tx) => tx.delete('lists', listId));
    await b.hydrate();
    expect(await titles('lists', b)).toEqual(['in both files']);
    expect(await titles('todos', b)).toEqual(['by a']);
    // b's next bundle meets a's under the same id: b rotates, and the row it undid goes, with
    // the todo under it, as the app's delete cascaded.
    await b.write((tx) => tx.insert('lists', { id: uuid(), name: 'only in b' }));
    await b.sync();
    await b.sync();

    expect(await titles('lists')).toEqual(['only in b']);
    expect(await titles('todos')).toEqual([]);
    await expectConverged(a, b);
  });

  it('a restored client that undoes an insert its past pushed, after it found out but before it hydrated, deletes the row', async () => {
    h = await startHarness();
    const oneChangeBundles = { limits: { maxChanges: 1 } };
    let a = await h.client('a', 'alice', oneChangeBundles);
    await a.sync();
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'K' }));
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'L' }));
    await a.close();
    copyDatabase(h.dbPath('a'), h.dbPath('a-backup'));
    // The file goes on: K and L go out as bundles 1 and 2, then X as bundle 3.
    a = await h.client('a', 'alice', oneChangeBundles);
    await a.sync();
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'X' }));
    await a.sync();
    await a.close();
    copyDatabase(h.dbPath('a-backup'), h.dbPath('a'));
    let snapshots = false;
    a = await h.client('a', 'alice', {
      ...oneChangeBundles,
      fetch: (input, init) =>
        !snapshots && pathOf(input).startsWith('/v1/snapshot')
          ? Promise.reject(new TypeError('fetch failed'))
          : fetch(input, init),
    });
    // Restored, the file pushes K as bundle 1 again: stale_bundle, the source rotates with L
    // still pending, and the hydration the rotation asks for cannot run yet. Then the app
    // deletes L: its past pushed it, so the delete must go out, not fold away with the insert.
    await a.sync().catch(() => undefined);
    expect(a.metrics()).toMatchObject({ sourceRotations: 1 });
    await a.write((tx) => tx.delete('lists', listId));
    expect((await a.readStatus()).pending).toBe(1);
    snapshots = true;
    await a.sync();
    await a.sync();

    expect(await titles('lists')).toEqual(['K', 'X']);
    await expectConverged(a);
  });

  it('a row the app undid stays when another device writes it again later', async () => {
    h = await startHarness();
    const a = await h.client('a');
    const b = await h.client('b');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'first' }));
    await a.sync();
    await b.sync();
    // a deletes the list; b, offline meanwhile, renames it: a manual conflict it resolves by
    // keeping its row, which writes the list again.
    await a.write((tx) => tx.delete('lists', listId));
    await a.sync();
    await b.write((tx) => tx.update('lists', listId, { name: 'kept by b' }));
    // a, knowing it deleted, inserts the list again and undoes that before pushing it.
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'again' }));
    await a.write((tx) => tx.delete('lists', listId));
    await b.sync();
    const [conflict] = await b.conflicts();
    await b.resolveConflict(conflict!.id, 'client');
    await b.sync();
    expect(await titles('lists')).toEqual(['kept by b']);
    await a.sync();

    expect(await titles('lists', a)).toEqual(['kept by b']);
    expect(await titles('lists')).toEqual(['kept by b']);
    await expectConverged(a, b);
  });

  it('a server restored from an old backup is detected by its history token although it has passed the client’s checkpoint again', async () => {
    const { a, peer, listId } = await listOnTwoDevicesBackedUp('inbox');
    for (const title of ['lost 1', 'lost 2', 'lost 3']) {
      await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title }));
      await a.sync();
    }
    const lostCheckpoint = (await a.readStatus()).checkpoint;
    // The operator restores the old backup; the peer writes past a's checkpoint again.
    await restoreServer();
    for (let i = 0; i < 4; i++) {
      await peer.write((tx) =>
        tx.insert('todos', { id: uuid(), list_id: listId, title: `new ${i}` }),
      );
      await peer.sync();
    }
    expect((await serverRows(h, 'alice', 'todos')).length).toBe(4);
    await a.write((tx) => tx.update('lists', listId, { name: 'renamed after the restore' }));
    const report = await a.sync();

    expect(report.hydrated).toBe(true);
    expect((await a.readStatus()).checkpoint).toBeGreaterThanOrEqual(lostCheckpoint ?? 0);
    expect(await titles('todos', a)).toEqual(['new 0', 'new 1', 'new 2', 'new 3']);
    expect(await titles('lists')).toEqual(['renamed after the restore']);
    await expectConverged(a, peer);
  });

  it('a bundle whose commit a restored server lost is sent again, although the server’s history still matches the client’s checkpoint', async () => {
    h = await startHarness();
    const a = await h.client('a');
    const peer = await h.client('peer');
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'inbox' }));
    await a.sync();
    await peer.sync();
    await peer.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'peer' }));
    await peer.sync();
    await backUpServer();
    // a's push commits after the peer's bundle, which a has not pulled: its bundle waits in
    // flight, committed, for a pull to bring it.
    await a.write((tx) => tx.insert('todos', { id: uuid(), list_id: listId, title: 'mine' }));
    await a.sync({ kind: 'push' });
    expect((await a.readStatus()).inFlight).toMatchObject({ committedSeq: 3 });
    // The server goes back to the backup: the peer's bundle is there, a's commit is not.
    await restoreServer();
    await a.sync();

    expect(await titles('todos')).toEqual(['mine', 'peer']);
    await expectConverged(a, peer);
  });

  it('a 410 whose body is cut on the way is no answer: the sync fails, nothing is forgotten, and the next one reads the lost history and keeps the re-insert of a row the old history had deleted', async () => {
    h = await startHarness();
    const proxy = await startFaultProxy({ target: h.url });
    try {
      const a = await h.client('a', 'alice', { url: proxy.url });
      await a.sync();
      await backUpServer();
      // The old history takes the list to a high version and deletes it: the file keeps a
      // tombstone at that version.
      const listId = await listAtVersion4(a);
      await a.write((tx) => tx.delete('lists', listId));
      await a.sync();
      // The server goes back to a backup without any of it; the app writes the list again,
      // and the 410 cursor_unknown that answers its push arrives cut short.
      await restoreServer();
      await a.write((tx) => tx.insert('lists', { id: listId, name: 'again' }));
      // (The proxy's first request after the restart finds its pooled connection closed.)
      await fetch(`${proxy.url}/healthz`).catch(() => undefined);
      proxy.plan('reset-response');
      const hydrations = a.metrics().hydrations;
      const cut = await a.sync().then(
        () => null,
        (error: unknown) => error,
      );

      // Not an answer: no hydration on a guess, the re-insert still pending.
      expect(cut).toMatchObject({ code: 'bad_response', status: 410 });
      expect(a.metrics().hydrations).toBe(hydrations);
      expect(await titles('lists', a)).toEqual(['again']);
      // The next sync reads the 410 cursor_unknown: a lost history, hydrated after the file
      // forgot its tombstone, and the re-insert goes out as the new row it is on this history.
      const report = await a.sync();
      expect(report.hydrated).toBe(true);
      expect(await a.conflicts()).toEqual([]);
      expect(await titles('lists', a)).toEqual(['again']);
      // The server has it, and no tombstone of the old history (at a version above the new
      // one) takes it away again.
      expect(await titles('lists')).toEqual(['again']);
      await a.write((tx) => tx.update('lists', listId, { name: 'again and again' }));
      await expectConverged(a);
      expect(await titles('lists', a)).toEqual(['again and again']);
    } finally {
      await proxy.close();
    }
  });

  it('an app’s hydrate() on a server restored from an old backup forgets what the file knew of the lost history: a row the new history brings back at a lower version is kept', async () => {
    h = await startHarness();
    const a = await h.client('a');
    const peer = await h.client('peer');
    await a.sync();
    await backUpServer();
    // The old history: the peer's list reaches version 4, and a has it.
    const listId = await listAtVersion4(peer);
    await a.sync();
    // The server goes back to the backup, and a's app asks for a snapshot before anything else.
    await restoreServer();
    await a.hydrate();
    expect(await titles('lists', a)).toEqual([]);
    // The peer still edits the list: the server does not have it, and the peer's edit, made
    // on a version of the lost history, brings it back; the new history has it at version 1.
    await peer.write((tx) => tx.update('lists', listId, { name: 'kept by the peer' }));
    await peer.sync();
    expect(await peer.conflicts()).toEqual([]);
    expect(await titles('lists')).toEqual(['kept by the peer']);
    await peer.write((tx) =>
      tx.insert('todos', { id: uuid(), list_id: listId, title: 'under it' }),
    );
    await peer.sync();

    await a.sync();
    expect(await titles('lists', a)).toEqual(['kept by the peer']);
    expect(await titles('todos', a)).toEqual(['under it']);
    await expectConverged(a, peer);
  });

  it('an app’s hydrate() on a server restored from an old backup whose new history has passed the file’s checkpoint learns from the snapshot that the checkpoint is lost: an edit made on the old history does not re-create a row the new one deleted at the same version', async () => {
    const { a, peer, listId } = await listOnTwoDevicesBackedUp('v1');
    // The old history: a's edit takes the list to version 2.
    await a.write((tx) => tx.update('lists', listId, { name: 'v2, lost with the restore' }));
    await a.sync();
    // The new history: the peer deletes the list (its tombstone is version 2 too), then writes
    // on, past a's checkpoint, so that only the server can tell a that its checkpoint is gone.
    await restoreServer();
    await peer.write((tx) => tx.delete('lists', listId));
    await peer.sync();
    await peer.write((tx) => tx.insert('lists', { id: uuid(), name: 'after the restore' }));
    await peer.sync();
    // a edits the list offline (on version 2 of the old history), and its app hydrates.
    await a.write((tx) => tx.update('lists', listId, { name: 'edited on the old history' }));
    await a.hydrate();
    const report = await a.sync();

    // The edit is not taken for one made on the new tombstone: it meets the delete as a
    // conflict (field-merge makes a changed row the server deleted a manual one), and the list
    // stays deleted until the app decides.
    expect(report.conflicts).toEqual([
      expect.objectContaining({ table: 'lists', pk: listId, outcome: 'manual' }),
    ]);
    expect(await titles('lists')).toEqual(['after the restore']);
    const [conflict] = await a.conflicts();
    expect(conflict).toMatchObject({
      table: 'lists',
      serverDeleted: true,
      local: { name: 'edited on the old history' },
    });
    await a.resolveConflict(conflict!.id, 'server');
    await expectConverged(a, peer);
    expect(await titles('lists', a)).toEqual(['after the restore']);
  });

  it('a manual conflict met on a history the server lost keeps its rows but not the lost history’s versions: resolving it after the hydration goes out on the current history', async () => {
    const { a, peer, listId } = await listOnTwoDevicesBackedUp('v1');
    // The old history: the peer deletes the list (version 2), a edits it offline and meets the
    // delete as a manual conflict that reports version 2.
    await peer.write((tx) => tx.delete('lists', listId));
    await peer.sync();
    await a.write((tx) => tx.update('lists', listId, { name: 'kept by a' }));
    await a.sync();
    expect(await a.conflicts()).toEqual([
      expect.objectContaining({ table: 'lists', serverVersion: 2, serverDeleted: true }),
    ]);
    // The server goes back to the backup (the list alive at version 1): a's next sync finds its
    // history lost and hydrates; the conflict stays for the app, without the lost version.
    await restoreServer();
    const report = await a.sync();
    expect(report.hydrated).toBe(true);
    const [conflict] = await a.conflicts();
    expect(conflict).toMatchObject({
      table: 'lists',
      serverVersion: null,
      local: { name: 'kept by a' },
    });
    // Resolved for the local row, it goes out on the current history's version 1: committed,
    // not refused as a conflict with a version the server never had.
    await a.resolveConflict(conflict!.id, 'client');
    const resolved = await a.sync();
    expect(resolved.conflicts).toEqual([]);
    expect(await titles('lists')).toEqual(['kept by a']);
    await expectConverged(a);
  });

  it('a conflict answered by a history the server later lost to a restore keeps the checkpoint but not the versions it taught: resolving it does not overwrite the new history’s edit at the same version unseen', async () => {
    const { a, peer, listId } = await listOnTwoDevicesBackedUp('v1');
    // The old history: the peer deletes the list (version 2); a edits it offline and pushes
    // without pulling, so its checkpoint stays at the backup's seq while the 409 teaches it
    // version 2 (a manual conflict: field-merge makes a changed row the server deleted one).
    await peer.write((tx) => tx.delete('lists', listId));
    await peer.sync();
    await a.write((tx) => tx.update('lists', listId, { name: 'kept by a' }));
    await a.sync({ kind: 'push' });
    const [conflict] = await a.conflicts();
    expect(conflict).toMatchObject({ table: 'lists', serverVersion: 2, serverDeleted: true });
    // The server goes back to the backup, which holds a's checkpoint; on the new history another
    // device renames the list: version 2 again, now a live row.
    await restoreServer();
    const other = await h.client('other');
    await other.sync();
    await other.write((tx) => tx.update('lists', listId, { name: 'renamed on the new history' }));
    await other.sync();

    // Resolved for the local row against version 2 of the lost history: the server refuses that
    // point, the file forgets the version and the edit meets the rename as the conflict it is.
    await a.resolveConflict(conflict!.id, 'client');
    const report = await a.sync();
    expect(report.hydrated).toBe(false);
    expect(report.conflicts).toEqual([expect.objectContaining({ table: 'lists', pk: listId })]);
    const settled = [...(await a.conflicts()), ...(await a.settledConflicts())];
    expect(settled.map((c) => c.table)).toContain('lists');
    expect(a.metrics().conflicts).toBeGreaterThanOrEqual(2);
    for (const c of await a.conflicts()) await a.resolveConflict(c.id, 'server');
    await expectConverged(a, other);
  });

  it('a server whose database was replaced by another is detected by its identity, and the client starts over from a snapshot keeping its pending writes', async () => {
    h = await startHarness();
    const a = await h.client('a');
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'old server' }));
    await a.sync();
    await h.stopServer();
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${h.serverPath}${suffix}`, { force: true });
    await h.startServer();
    const fresh = await h.client('fresh');
    await fresh.write((tx) => tx.insert('lists', { id: uuid(), name: 'new server' }));
    await fresh.sync();
    await a.write((tx) => tx.insert('lists', { id: uuid(), name: 'pending on a' }));
    const report = await a.sync();

    expect(report.hydrated).toBe(true);
    expect(await titles('lists')).toEqual(['new server', 'pending on a']);
    await expectConverged(a, fresh);
  });
});

/**
 * Answers the server gives before it read a large body (401, 413), seen by the real client
 * engine over HTTP on 127.0.0.1: it must read them, and then refresh its token, or split or
 * dead-letter the bundle, instead of taking them for a network failure and retrying forever.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GetTokenOptions } from '@ferry/client';
import { signToken } from '@ferry/server';
import { autoClient, until } from '../support/auto-sync.js';
import { SECRET, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

/** Rows of the backlog: about 2 MB of pending changes, one bundle by default. */
const ROWS = 4_000;

/** A list and ROWS - 1 todos with long titles, written in one local transaction. */
async function bigBacklog(client: { write: (fn: (tx: never) => void) => Promise<unknown> }) {
  const listId = uuid();
  await client.write((tx: { insert: (table: string, row: object) => void }) => {
    tx.insert('lists', { id: listId, name: 'big' });
    for (let i = 1; i < ROWS; i++) {
      tx.insert('todos', { id: uuid(), list_id: listId, title: `${i} ${'t'.repeat(440)}` });
    }
  });
  return ROWS;
}

describe('answers before the body, through the client engine', () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  describe('with the default limits', () => {
    beforeEach(async () => {
      h = await startHarness();
    });

    it('an expired token refused before a 2 MB push is read as 401: the client refreshes it once and pushes', async () => {
      const fresh = await h.token('alice');
      const expired = await signToken({ secret: SECRET, userId: 'alice', expiresInSeconds: -60 });
      let current = fresh;
      const asked: (GetTokenOptions | undefined)[] = [];
      const a = await autoClient(h, 'a', {
        realtime: false,
        getToken: (options) => {
          asked.push(options);
          if (options?.forceRefresh) current = fresh;
          return current;
        },
      });
      await until(() => expect(a.client.status.state).toBe('idle'));
      const rows = await bigBacklog(a.client as never);
      current = expired;
      await a.clock.advanceAsync(5_000);
      await until(
        () => expect(a.client.status).toMatchObject({ state: 'idle', pending: 0 }),
        60_000,
      );
      expect(asked.filter((o) => o?.forceRefresh === true)).toHaveLength(1);
      expect(a.client.metrics().authRefreshes).toBe(1);
      // Never mistaken for the network.
      const failures = a.statuses.map((s) => s.lastFailure?.code).filter(Boolean);
      expect(failures).toEqual(failures.map(() => 'unauthorized'));
      expect(await serverRows(h, 'alice', 'todos')).toHaveLength(rows - 1);
    }, 90_000);
  });

  describe('with a server limit far below the client’s', () => {
    beforeEach(async () => {
      h = await startHarness({ server: { limits: { maxBodyBytes: 256 * 1024 } } });
    });

    it('a 2 MB bundle refused before it is read as 413 is split until it fits', async () => {
      const a = await h.client('a', 'alice', { limits: { maxBodyBytes: 64 * 1024 * 1024 } });
      await a.sync();
      const rows = await bigBacklog(a as never);
      const report = await a.sync();
      expect(report.deadLettered).toEqual([]);
      expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 0 });
      expect(await serverRows(h, 'alice', 'todos')).toHaveLength(rows - 1);
    }, 90_000);
  });

  describe('with a server limit below one change', () => {
    beforeEach(async () => {
      h = await startHarness({ server: { limits: { maxBodyBytes: 700 } } });
    });

    it('a change larger than the limit is dead-lettered after a readable 413, the rest commits', async () => {
      const a = await h.client('a', 'alice', { limits: { maxBodyBytes: 64 * 1024 * 1024 } });
      await a.sync();
      const listId = uuid();
      const big = uuid();
      await a.write((tx) => {
        tx.insert('lists', { id: listId, name: 'l' });
        tx.insert('todos', { id: uuid(), list_id: listId, title: 'small' });
        tx.insert('todos', { id: big, list_id: listId, title: 'x'.repeat(500) });
        tx.insert('todos', { id: uuid(), list_id: listId, title: 'small too' });
      });
      const report = await a.sync();
      expect(report.deadLettered).toEqual([
        expect.objectContaining({ table: 'todos', pk: big, code: 'payload_too_large' }),
      ]);
      expect(await a.readStatus()).toMatchObject({ pending: 0, deadLetters: 1 });
      expect((await serverRows(h, 'alice', 'todos')).map((t) => t.title)).toEqual(
        expect.arrayContaining(['small', 'small too']),
      );
    });
  });
});

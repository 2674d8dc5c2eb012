import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './test-support/harness.js';
import { describeSyncRules, pullAll } from './test-support/sync-rules-suite.js';

const ALICE = 'alice';

describeSyncRules('sqlite');

let current: TestServer | undefined;
afterEach(async () => {
  await current?.close();
  current = undefined;
});
async function server(options: Parameters<typeof startTestServer>[0] = {}) {
  current = await startTestServer({ http: true, ...options });
  return current;
}

describe('writes by backend code', () => {
  it('shows a row written through server.write and one written by raw SQL from another process in the next pull', async () => {
    const t = await server({ externalPollMs: 20 });
    const controller = new AbortController();
    const events = await fetch(`${t.url}/v1/events`, {
      headers: { authorization: `Bearer ${await t.token(ALICE)}` },
      signal: controller.signal,
    });
    const reader = events.body!.getReader();

    const listId = randomUUID();
    const written = await t.server.write(ALICE, async (tx) => {
      await tx.upsert('lists', { id: listId, name: 'made by the backend' });
      return tx.get('lists', listId);
    });
    expect(written.value).toMatchObject({
      id: listId,
      owner_id: ALICE,
      name: 'made by the backend',
    });
    expect(written.bundles).toEqual([
      { userId: ALICE, bundleSeq: 1, rowCount: 1, origin: 'backend' },
    ]);

    const rawId = randomUUID();
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(process.argv[1]);
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      db.prepare("INSERT INTO todos (id, owner_id, list_id, title, done) VALUES (?, 'alice', ?, 'from a cron job', 0)").run(process.argv[2], process.argv[3]);
      db.close();`;
    execFileSync(process.execPath, ['-e', script, t.dbPath, rawId, listId], { cwd: process.cwd() });

    // The poll turns the raw write into a bundle and pokes Alice's stream.
    let text = '';
    while (!text.includes('"bundleSeq":2'))
      text += new TextDecoder().decode((await reader.read()).value);
    controller.abort();
    expect(text).toContain('event: poke\ndata: {"bundleSeq":1}');

    const bundles = await pullAll(t, ALICE);
    expect(bundles.map((b) => [b.bundleSeq, b.sourceId, b.sourceBundleId])).toEqual([
      [1, null, null],
      [2, null, null],
    ]);
    expect(bundles[0]!.rows[0]).toMatchObject({
      table: 'lists',
      pk: listId,
      op: 'upsert',
      row: { name: 'made by the backend' },
    });
    expect(bundles[1]!.rows[0]).toMatchObject({
      table: 'todos',
      pk: rawId,
      op: 'upsert',
      rowVersion: 2,
      row: { title: 'from a cron job', done: false },
    });
  });

  it('captures a raw write before a pull even without the poll timer', async () => {
    const t = await server({ externalPollMs: 0 });
    const id = randomUUID();
    const script = `
      const Database = require('better-sqlite3');
      const db = new Database(process.argv[1]);
      db.pragma('busy_timeout = 5000');
      db.prepare("INSERT INTO lists (id, owner_id, name) VALUES (?, 'alice', 'raw')").run(process.argv[2]);
      db.close();`;
    execFileSync(process.execPath, ['-e', script, t.dbPath, id], { cwd: process.cwd() });
    const bundles = await pullAll(t, ALICE);
    expect(bundles).toEqual([
      {
        bundleSeq: 1,
        sourceId: null,
        sourceBundleId: null,
        rows: [expect.objectContaining({ pk: id, op: 'upsert' })],
        token: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
  });
});

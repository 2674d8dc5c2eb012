import { randomUUID } from 'node:crypto';
import { copyFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { tempDir, todo } from '../../test-support/harness.js';
import {
  LEGACY_BUNDLES,
  LEGACY_LIST,
  LEGACY_SOURCE,
  LEGACY_TIME,
  expectLegacyUpgrade,
  legacyListRow,
} from '../../test-support/legacy-history.js';
import type { PullOutcome, ServerStore } from '../server-store.js';
import { schemaDdl } from './sqlite-ddl.js';
import { createSqliteStore } from './sqlite-store.js';

/** METADATA_DDL of metadata layout 1, as the store created it before identities and tokens. */
const VERSION_1_METADATA_DDL = `
CREATE TABLE IF NOT EXISTS ferry_meta (
  key TEXT NOT NULL PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_users (
  user_id TEXT NOT NULL PRIMARY KEY,
  last_seq INTEGER NOT NULL,
  pruned_through INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_rows (
  table_name TEXT NOT NULL,
  pk BLOB NOT NULL,
  owner TEXT NOT NULL,
  row_version INTEGER NOT NULL,
  deleted INTEGER NOT NULL,
  PRIMARY KEY (table_name, pk)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ferry_bundles (
  user_id TEXT NOT NULL,
  bundle_seq INTEGER NOT NULL,
  source_id TEXT,
  source_bundle_id INTEGER,
  row_count INTEGER NOT NULL,
  rows TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (user_id, bundle_seq)
);
CREATE TABLE IF NOT EXISTS ferry_sources (
  user_id TEXT NOT NULL,
  source_id TEXT NOT NULL,
  last_committed INTEGER NOT NULL,
  bundle_seq INTEGER NOT NULL,
  response TEXT,
  PRIMARY KEY (user_id, source_id)
);
CREATE TABLE IF NOT EXISTS ferry_capture (
  seq INTEGER PRIMARY KEY,
  table_name TEXT NOT NULL,
  pk BLOB NOT NULL,
  owner TEXT,
  op TEXT NOT NULL
);
`;

/** A data file of metadata layout 1 holding the legacy history (see legacy-history.ts). */
function createVersion1File(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec(VERSION_1_METADATA_DDL);
    db.exec(schemaDdl(todoSchema));
    db.transaction(() => {
      const row = legacyListRow(2);
      db.prepare(
        'INSERT INTO lists (id, owner_id, name, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
      ).run(row.id, row.owner_id, row.name, row.created_at, row.updated_at);
      // The store cleared what its triggers captured in the committing transaction.
      db.exec('DELETE FROM ferry_capture');
      db.prepare('INSERT INTO ferry_rows VALUES (?, ?, ?, ?, ?)').run(
        'lists',
        LEGACY_LIST,
        'alice',
        2,
        0,
      );
      for (const bundle of LEGACY_BUNDLES) {
        db.prepare('INSERT INTO ferry_bundles VALUES (?, ?, ?, ?, ?, ?, ?)').run(
          'alice',
          bundle.bundleSeq,
          bundle.sourceId,
          bundle.sourceBundleId,
          1,
          bundle.rowsJson,
          Date.parse(LEGACY_TIME),
        );
      }
      db.prepare('INSERT INTO ferry_users VALUES (?, ?, ?)').run('alice', 2, 0);
      db.prepare('INSERT INTO ferry_sources VALUES (?, ?, ?, ?, NULL)').run(
        'alice',
        LEGACY_SOURCE,
        2,
        2,
      );
      const meta = db.prepare('INSERT INTO ferry_meta VALUES (?, ?)');
      meta.run('schema_fingerprint', todoSchema.fingerprint);
      meta.run('metadata_version', '1');
    })();
  } finally {
    db.close();
  }
}

describe('the SQLite store’s identity and history', () => {
  it('upgrades a data file of the first layout in place: old bundles keep working, new ones get tokens', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    createVersion1File(path);
    const serverId = randomUUID();
    const store = createSqliteStore({ path, createServerId: () => serverId });
    try {
      await store.open(todoSchema);
      await expectLegacyUpgrade(store, serverId);
    } finally {
      await store.close();
    }
    // The upgrade is recorded once; opening again changes nothing.
    const again = createSqliteStore({
      path,
      createServerId: () => {
        throw new Error('an upgraded file keeps its identity');
      },
    });
    try {
      await again.open(todoSchema);
      expect(again.serverId).toBe(serverId);
      expect(
        pageOf(await again.pull({ userId: 'alice', after: 0, limit: 10 })).bundles,
      ).toHaveLength(3);
    } finally {
      await again.close();
    }
    const db = new Database(path, { readonly: true });
    try {
      const meta = Object.fromEntries(
        (
          db.prepare('SELECT key, value FROM ferry_meta').all() as { key: string; value: string }[]
        ).map((r) => [r.key, r.value]),
      );
      expect(meta).toMatchObject({ metadata_version: '3', server_id: serverId });
    } finally {
      db.close();
      cleanup();
    }
  });

  it('tells a client of the history a restored backup lost that its cursor is gone, with a reason', async () => {
    const { dir, cleanup } = tempDir();
    const path = join(dir, 'ferry.db');
    const backup = join(dir, 'backup.db');
    const source = randomUUID();
    const open = async () => {
      const store = createSqliteStore({ path });
      await store.open(todoSchema);
      return store;
    };
    try {
      let store = await open();
      for (let i = 1; i <= 2; i++) await committed(store, source, i);
      await store.close();
      copyFileSync(path, backup);
      // The server goes on; a client follows it to bundle 4.
      store = await open();
      const serverId = store.serverId;
      for (let i = 3; i <= 4; i++) await committed(store, source, i);
      const followed = pageOf(await store.pull({ userId: 'alice', after: 0, limit: 10 })).bundles;
      await store.close();
      // The backup comes back, and another device pushes past the client's cursor again.
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
      copyFileSync(backup, path);
      store = await open();
      try {
        expect(store.serverId).toBe(serverId);
        expect(await pull(store, 4, followed[3]!.token!)).toMatchObject({
          code: 'cursor_unknown',
          details: { reason: 'ahead' },
        });
        for (let i = 1; i <= 3; i++) await committed(store, randomUUID(), 1);
        expect(await pull(store, 4, followed[3]!.token!)).toMatchObject({
          code: 'cursor_unknown',
          details: { reason: 'history_diverged' },
        });
        expect(await pull(store, 3, followed[2]!.token!)).toMatchObject({
          details: { reason: 'history_diverged' },
        });
        // What the backup kept is still the same history.
        expect(pageOf(await pull(store, 2, followed[1]!.token!)).bundles).toHaveLength(3);
      } finally {
        await store.close();
      }
    } finally {
      cleanup();
    }
  });
});

async function committed(store: ServerStore, sourceId: string, sourceBundleId: number) {
  const outcome = await store.push({
    userId: 'alice',
    sourceId,
    sourceBundleId,
    changes: [todo.list()],
    now: new Date(),
  });
  expect(outcome.kind).toBe('committed');
}

function pull(store: ServerStore, after: number, token: string): Promise<PullOutcome> {
  return store.pull({ userId: 'alice', after, limit: 10, token });
}

function pageOf(outcome: PullOutcome) {
  if (outcome.kind !== 'page') throw new Error(`expected a page, got ${JSON.stringify(outcome)}`);
  return outcome.page;
}

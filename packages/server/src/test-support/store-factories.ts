/** Store factories of the contract suite for the SQLite store. */
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { todoSchema } from '@ferry/example-todo';
import type { ServerStore } from '../store/server-store.js';
import { createSqliteStore } from '../store/sqlite/sqlite-store.js';
import { tempDir } from './harness.js';
import type {
  ExternalWriter,
  StoreFactory,
  StoreTestOptions,
  StoreUnderTest,
} from './store-contract.js';

/** Raw SQL on the file through a second connection, as another process would write it. */
function fileWriter(path: string): ExternalWriter {
  const run = async (sql: string, ...params: unknown[]) => {
    const db = new Database(path);
    try {
      db.pragma('busy_timeout = 5000');
      db.pragma('foreign_keys = ON');
      db.prepare(sql).run(...params);
    } finally {
      db.close();
    }
  };
  return writerOf(run);
}

/** Raw SQL through the store's backend write API (the only way into a ':memory:' store). */
function writeApiWriter(store: ServerStore): ExternalWriter {
  return writerOf(async (sql, ...params) => {
    await store.write('admin', (tx) => tx.execute(sql, params));
  });
}

function writerOf(run: (sql: string, ...params: unknown[]) => Promise<void>): ExternalWriter {
  return {
    insertList: (id, owner, name) =>
      run('INSERT INTO lists (id, owner_id, name) VALUES (?, ?, ?)', id, owner, name),
    renameList: (id, name) => run('UPDATE lists SET name = ? WHERE id = ?', name, id),
    setListOwner: (id, owner) => run('UPDATE lists SET owner_id = ? WHERE id = ?', owner, id),
    deleteList: (id) => run('DELETE FROM lists WHERE id = ?', id),
  };
}

/** Opens the SQLite store on `path` (a new or an existing file). */
export async function openFileStore(
  path: string,
  cleanup: () => void,
  options: StoreTestOptions = {},
): Promise<StoreUnderTest> {
  const store = createSqliteStore({ path, ...options });
  await store.open(todoSchema);
  return {
    store,
    external: fileWriter(path),
    async reopen() {
      await store.close();
      return openFileStore(path, cleanup, options);
    },
    async cleanup() {
      await store.close();
      cleanup();
    },
  };
}

export async function openMemoryStore(): Promise<StoreUnderTest> {
  const store = createSqliteStore({ path: ':memory:' });
  await store.open(todoSchema);
  return {
    store,
    external: writeApiWriter(store),
    reopen: async () => {
      throw new Error('a memory store cannot be reopened');
    },
    cleanup: () => store.close(),
  };
}

/** The SQLite store on a temporary file; raw SQL comes through a second connection. */
export const sqliteFileFactory: StoreFactory = {
  name: 'SQLite',
  create: async (options) => {
    const { dir, cleanup } = tempDir();
    return openFileStore(join(dir, 'ferry.db'), cleanup, options);
  },
};

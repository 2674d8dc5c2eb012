import { copyFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import Database from 'better-sqlite3';
import { schemaHistory, type Schema } from '@ferry/protocol';
import { todoSchema, todoV2, todoV3, todoV4 } from '@ferry/example-todo';
import { startHarness, type Harness } from '../support/ferry-harness.js';
import { fileWithIntent } from '../support/upgrade-fixture.js';
import { bundleCrashChild, type CrashChild } from './child-process.js';

/** Kills of the migration, by the statement it was about to run (the first is the JSON rewrite). */
const KILL_AFTER = [1, 2, 3, 5, 8, 13, 21];

describe('a client migration killed with SIGKILL', () => {
  let h: Harness<Schema>;
  let child: CrashChild;
  let ids: Awaited<ReturnType<typeof fileWithIntent>>;
  beforeAll(async () => {
    [h, child] = await Promise.all([
      startHarness<Schema>({ schema: schemaHistory(todoSchema, todoV2, todoV3, todoV4) as never }),
      bundleCrashChild(),
    ]);
    ids = await fileWithIntent(h);
  });
  afterAll(async () => {
    child.dispose();
    await h.close();
  });

  it.each(KILL_AFTER)(
    'before statement %i leaves the version 1 file intact, and reopening migrates it with everything kept',
    async (killAfter) => {
      const name = `upgrade-${killAfter}`;
      copyFileSync(h.dbPath('old'), h.dbPath(name));
      const run = await child.run({
        FERRY_DB: h.dbPath(name),
        FERRY_URL: h.url,
        FERRY_TOKEN: await h.token('alice'),
        FERRY_SCENARIO: 'upgrade',
        FERRY_KILL_AT: 'during-local-migration',
        FERRY_KILL_AFTER: String(killAfter),
      });
      expect(run.output).toContain('killed at during-local-migration');
      expect(run.signal).toBe('SIGKILL');
      const file = new Database(h.dbPath(name), { readonly: true });
      try {
        expect(file.pragma('integrity_check', { simple: true })).toBe('ok');
        // Still version 1: the killed transaction left nothing.
        expect(
          file
            .prepare("SELECT value FROM ferry_state WHERE key = 'schema_fingerprint'")
            .pluck()
            .get(),
        ).toBe(todoSchema.fingerprint);
      } finally {
        file.close();
      }
      const reopened = await h.client(name, 'alice', {
        schema: todoV3,
        history: schemaHistory(todoSchema, todoV2, todoV3),
        resolvers: { todos: 'manual' },
      });
      expect((await reopened.readStatus()).pending).toBe(1);
      expect(await reopened.conflicts()).toEqual([
        expect.objectContaining({ pk: ids.b, local: expect.objectContaining({ title: 'b here' }) }),
      ]);
      expect(await reopened.deadLetters()).toEqual([expect.objectContaining({ pk: ids.bobs })]);
      expect(await reopened.getRow('todos' as never, ids.c as never)).toMatchObject({
        title: 'c pending',
        priority: 0,
      });
      await reopened.close();
    },
  );
});

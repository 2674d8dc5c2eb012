import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli.js';
import { captureIo } from '../test-support/capture-io.js';

const io = captureIo;

describe('ferry migrate', () => {
  it('prints the plan with --dry-run and changes nothing, then migrates, then has nothing to do', async () => {
    // Inside the repository, so the module resolves the example like a user's schema would.
    const cache = join(process.cwd(), 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'ferry-migrate-'));
    try {
      const data = join(dir, 'data');
      const history = join(dir, 'history.ts');
      writeFileSync(history, "export { todoHistory as default } from '@ferry/example-todo';\n");

      let t = io();
      expect(await runCli(['migrate', '--data', data, '--dry-run'], t.io)).toBe(0);
      expect(t.out.join('\n')).toContain(
        'The database is empty: the tables of version 1 would be created.',
      );
      t = io();
      expect(await runCli(['migrate', '--data', data], t.io)).toBe(0);
      expect(t.out.at(-1)).toBe('Created the tables of version 1.');

      for (let i = 0; i < 2; i++) {
        t = io();
        expect(
          await runCli(['migrate', '--data', data, '--schema', history, '--dry-run'], t.io),
        ).toBe(0);
        const text = t.out.join('\n');
        expect(text).toContain('The database holds version 1; the newest is 5.');
        expect(text).toContain(
          'Version 2:\n  - add column todos.priority\n  - add index by_list_done of todos',
        );
        expect(text).toContain(
          'ALTER TABLE "todos" ADD COLUMN "priority" INTEGER NOT NULL DEFAULT 0',
        );
        expect(text).toContain('  - rename column todos.title to text');
        expect(text).toContain(
          "  - run the version's custom SQL (its writes reach devices as bundles)",
        );
        expect(text).toContain('UPDATE todos SET priority = CAST(position AS INTEGER)');
      }
      t = io();
      expect(await runCli(['migrate', '--data', data, '--schema', history], t.io)).toBe(0);
      expect(t.out.at(-1)).toBe('Migrated from version 1 to 5.');
      t = io();
      expect(
        await runCli(['migrate', '--data', data, '--schema', history, '--dry-run'], t.io),
      ).toBe(0);
      expect(t.out.join('\n')).toContain(
        'The database holds version 5, the newest: nothing to do.',
      );
      // The example schema alone is version 1: the database is ahead of that code.
      t = io();
      expect(await runCli(['migrate', '--data', data, '--dry-run'], t.io)).toBe(1);
      expect(t.err.join('\n')).toMatch(/holds schema version 5.*ahead of its code/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

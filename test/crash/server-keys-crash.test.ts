/**
 * Server-assigned keys under real-process crashes: a client that creates rows under temporary
 * keys (a project, tasks in it, a note on a task) is killed with SIGKILL at every point of the
 * push and of the remap to the server's keys, the first and the second time it reaches it, and
 * its file reopened. Afterwards the file is intact, every row the app wrote is on the server
 * exactly once with its references right, the app's edits made by temporary key are there, and
 * the device holds exactly the server's rows under their server keys.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HookPoint } from '@ferry/client';
import { rowsOf, serverRows, startHarness } from '../support/ferry-harness.js';
import { projectSchema, type ProjectSchema } from '../support/project-schema.js';
import { bundleCrashChild, type CrashChild } from './child-process.js';

let child: CrashChild;
beforeAll(async () => {
  child = await bundleCrashChild();
});
afterAll(() => child.dispose());

const POINTS: readonly HookPoint[] = [
  'after-freeze-before-send',
  'after-server-commit-before-response',
  'after-response-before-local-ack',
  'during-key-remap',
  'mid-pull-apply',
  'after-apply-before-checkpoint',
];
/** How the reopened device starts: a sync (push first), a pull first, or a hydration first. */
type Recovery = 'sync' | 'pull' | 'hydrate';
const CASES: (readonly [HookPoint, number, Recovery])[] = [
  ...POINTS.flatMap((point) => [1, 2].map((n) => [point, n, 'sync'] as const)),
  // The server committed and the answer was never read: a pull, or a snapshot, brings the rows
  // under their server keys before the push is sent again.
  ...(['after-server-commit-before-response', 'after-response-before-local-ack'] as const).flatMap(
    (point) => (['pull', 'hydrate'] as const).map((how) => [point, 1, how] as const),
  ),
];

describe('server-assigned keys: the client is killed with SIGKILL at each point of the push and the remap', () => {
  it.each(CASES)(
    'killed at %s (#%i), recovered by a %s first: the file is intact, every row is on the server once under its server key with its references, and the device converges',
    { timeout: 60_000 },
    async (point, killAfter, recovery) => {
      const h = await startHarness<ProjectSchema>({ schema: projectSchema });
      try {
        const names = ['alpha', 'beta', 'gamma'].map((n) => `${n}-${point}-${killAfter}`);
        const run = await child.run({
          FERRY_DB: h.dbPath('child'),
          FERRY_URL: h.url,
          FERRY_TOKEN: await h.token('alice'),
          FERRY_SCENARIO: 'server-keys',
          FERRY_KILL_AT: point,
          FERRY_KILL_AFTER: String(killAfter),
          FERRY_IDS: JSON.stringify({ names }),
        });
        const killed = run.signal === 'SIGKILL';
        // Every point comes by in the first sync, which pushes the new rows.
        if (killAfter === 1) expect(run.output).toContain(`killed at ${point} #1`);
        if (!killed) expect(run.output).toContain('finished');
        const trees = run.output.includes('{"ack":"trees"}');
        const edits = run.output.includes('{"ack":"edits"}');

        const client = await h.client('child', 'alice');
        expect(await client.query('PRAGMA integrity_check')).toEqual([{ integrity_check: 'ok' }]);
        if (recovery === 'pull') await client.sync({ kind: 'pull' });
        if (recovery === 'hydrate') await client.hydrate();
        await client.sync();
        await client.sync();
        const status = await client.readStatus();
        expect(status.pending).toBe(0);
        expect(status.deadLetters).toBe(0);
        expect(status.conflicts).toBe(0);

        const projects = await serverRows(h, 'alice', 'projects');
        const tasks = await serverRows(h, 'alice', 'tasks');
        const notes = await serverRows(h, 'alice', 'notes');
        if (trees) {
          // Each written once, whatever the crash: no bundle was committed twice.
          expect(projects.map((p) => String(p['name']).replace(/!$/, '')).sort()).toEqual(
            [...names].sort(),
          );
          expect(tasks).toHaveLength(names.length * 2);
          expect(notes).toHaveLength(names.length);
        }
        if (edits) for (const p of projects) expect(String(p['name'])).toMatch(/!$/);
        for (const project of projects) {
          expect(project['id']).toBeGreaterThan(0);
          const base = String(project['name']).replace(/!$/, '');
          const mine = tasks.filter((t) => t['project_id'] === project['id']);
          expect(mine.map((t) => t['title']).sort()).toEqual([`${base}/1`, `${base}/2`]);
          const first = mine.find((t) => t['title'] === `${base}/1`)!;
          expect(notes.filter((n) => n['task_id'] === first['id'])).toHaveLength(1);
        }
        expect(await rowsOf(client, 'projects')).toEqual(projects);
        expect(await rowsOf(client, 'tasks')).toEqual(
          [...tasks].sort((a, b) => String(a['id']).localeCompare(String(b['id']))),
        );
        expect(await rowsOf(client, 'notes')).toEqual(notes);
      } finally {
        await h.close();
      }
    },
  );
});

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { createFerryServer, createSqliteStore, signToken, type FerryServer } from '@ferry/server';
import type { CliIo } from '../cli-command.js';
import { runCli } from '../run-cli.js';
import { runClientCommand } from './client.js';
import { parseClientArgs } from './client-command.js';

const SECRET = 'cli-client-test-secret-of-32-bytes!';
const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));

function io(env: CliIo['env'] = {}) {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    io: { out: (l: string) => out.push(l), err: (l: string) => err.push(l), env },
  };
}

describe('ferry client', () => {
  let dir: string;
  let server: FerryServer;
  let url: string;
  let token: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-cli-client-'));
    server = await createFerryServer({
      schema: todoSchema,
      store: createSqliteStore({ path: join(dir, 'server.db') }),
      auth: { jwtSecret: SECRET },
      logger: false,
      externalPollMs: 0,
    });
    url = (await server.listen({ host: '127.0.0.1', port: 0 })).url;
    token = await signToken({ secret: SECRET, userId: 'demo' });
  });
  afterAll(async () => {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Runs `ferry client --url … --token … --db <device>.db <args>` in this process. */
  const run = async (device: string, ...args: string[]) => {
    const t = io();
    const code = await runCli(
      ['client', '--url', url, '--token', token, '--db', join(dir, `${device}.db`), ...args],
      t.io,
    );
    return { code, out: t.out.join('\n'), err: t.err.join('\n') };
  };

  it('parses its options, with defaults from the environment', () => {
    expect(parseClientArgs(['todos'], { TOKEN: 't', FERRY_URL: 'http://h:1' })).toMatchObject({
      ok: true,
      command: 'todos',
      options: { url: 'http://h:1', token: 't', db: './ferry-client.db', json: false },
    });
    expect(
      parseClientArgs(['add', 'milk', '--list', 'Groceries', '--db', 'a.db', '--token', 'x']),
    ).toMatchObject({ ok: true, args: ['milk'], options: { list: 'Groceries', db: 'a.db' } });
    expect(parseClientArgs([])).toMatchObject({ ok: false, message: 'name a command' });
    expect(parseClientArgs(['frobnicate'])).toMatchObject({ ok: false });
    expect(parseClientArgs(['add'])).toMatchObject({ ok: false });
    expect(parseClientArgs(['todos', '--list', 'x'])).toMatchObject({ ok: false });
    expect(parseClientArgs(['rm', 'milk', '--list', 'x'])).toMatchObject({ ok: true });
    expect(parseClientArgs(['rename', 'milk'])).toMatchObject({ ok: false });
    expect(parseClientArgs(['rm-list', 'x', '--list', 'y'])).toMatchObject({ ok: false });
    expect(parseClientArgs(['sync', '--url', 'not a url'])).toMatchObject({ ok: false });
  });

  it('explains bad usage and a missing token, and exits 2', async () => {
    const t = io();
    expect(await runCli(['client', 'frobnicate'], t.io)).toBe(2);
    expect(t.err.join('\n')).toContain('Usage: ferry client');
    const noToken = io();
    expect(await runCli(['client', '--db', join(dir, 'x.db'), 'sync'], noToken.io)).toBe(2);
    expect(noToken.err.join('\n')).toContain('needs a token');
    expect(await runCli(['client', '--help'], t.io)).toBe(0);
    expect(t.out.join('\n')).toContain('watch');
  });

  it('adds, lists and toggles todos on one device, and another device sees them after a sync', async () => {
    expect(await run('one', 'add-list', 'Groceries')).toMatchObject({ code: 0 });
    const added = await run('one', 'add', 'milk', '--list', 'groceries');
    expect(added).toMatchObject({ code: 0 });
    expect(added.out).toMatch(/added \[ \] milk {2}\(\w{8}\) in Groceries\nsynced/);
    expect((await run('one', 'toggle', 'milk')).out).toContain('[x] milk');
    expect((await run('one', 'lists')).out).toMatch(/Groceries {2}\(\w{8}\) {2}0 open, 1 done/);

    const fresh = await run('two', 'todos');
    expect(fresh.out).toBe('(no lists)');
    expect(fresh.err).toContain('has not synced yet');
    expect((await run('two', 'sync')).out).toMatch(/synced: pushed 0, pulled 2, hydrated/);
    expect((await run('two', 'todos', 'Groceries')).out).toMatch(/Groceries .*\n {2}\[x\] milk/);
    const status = await run('two', 'status', '--json');
    expect(JSON.parse(status.out)).toMatchObject({ pending: 0, userId: 'demo', checkpoint: 3 });
    expect((await run('two', 'toggle', 'nothing-like-this')).code).toBe(2);
  });

  it('renames and removes todos and lists, and another device sees each change after a sync', async () => {
    expect((await run('rm-a', 'add-list', 'Garden')).code).toBe(0);
    expect((await run('rm-a', 'add', 'water', '--list', 'Garden')).code).toBe(0);
    expect((await run('rm-a', 'add', 'weed', '--list', 'Garden')).code).toBe(0);
    const renamed = await run('rm-a', 'rename', 'water', 'water the roses');
    expect(renamed).toMatchObject({ code: 0 });
    expect(renamed.out).toMatch(/renamed water to \[ \] water the roses {2}\(\w{8}\)\nsynced/);
    expect((await run('rm-a', 'rename-list', 'garden', 'Backyard')).out).toMatch(
      /renamed list Garden to Backyard/,
    );
    expect((await run('rm-b', 'sync')).code).toBe(0);
    expect((await run('rm-b', 'todos', 'Backyard')).out).toMatch(
      /Backyard .*\n {2}\[ \] water the roses .*\n {2}\[ \] weed/,
    );

    const removed = await run('rm-a', 'rm', 'weed');
    expect(removed).toMatchObject({ code: 0 });
    expect(removed.out).toMatch(/removed \[ \] weed {2}\(\w{8}\)\nsynced/);
    expect((await run('rm-b', 'sync')).out).toMatch(/pulled 1/);
    expect((await run('rm-b', 'todos', 'Backyard')).out).not.toContain('weed');

    // A list goes with its todos, on both devices.
    expect((await run('rm-a', 'rm-list', 'Backyard')).out).toMatch(
      /removed list Backyard {2}\(\w{8}\) and its 1 todo\(s\)\nsynced/,
    );
    expect((await run('rm-b', 'sync')).code).toBe(0);
    const left = (await run('rm-b', 'todos')).out;
    expect(left).not.toContain('Backyard');
    expect(left).not.toContain('water the roses');
  });

  it('keeps list names unique, and names the ids when a name or title fits several', async () => {
    expect((await run('names', 'add-list', 'Work')).code).toBe(0);
    const again = await run('names', 'add-list', ' work ');
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/there is a list "Work" already \(\w{8}\): pick another name/);
    expect((await run('names', 'add-list', 'Home')).code).toBe(0);
    expect((await run('names', 'rename-list', 'Home', 'WORK')).code).toBe(2);
    expect((await run('names', 'add-list', '   ')).err).toMatch(/needs a name that is not blank/);
    const lists = (await run('names', 'lists')).out;
    expect(lists.match(/^(Work|Home) /gm)).toEqual(['Home ', 'Work ']);

    // The same title in two lists: the title alone is ambiguous, --list tells them apart.
    await run('names', 'add', 'call', '--list', 'Work');
    await run('names', 'add', 'call', '--list', 'Home');
    const ambiguous = await run('names', 'toggle', 'call');
    expect(ambiguous.code).toBe(2);
    expect(ambiguous.err).toMatch(/"call" names 2 todos \(\w{8}, \w{8}\): use the id/);
    expect((await run('names', 'toggle', 'call', '--list', 'home')).out).toContain('[x] call');
    const id = /\((\w{8})\)/.exec((await run('names', 'rm', 'call', '--list', 'Work')).out)![1]!;
    expect((await run('names', 'rm', id)).err).toContain(`no todo "${id}"`);
  });

  it('keeps a write in the file when the server is out of reach, and says so', async () => {
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));
    const db = join(dir, 'offline.db');
    const t = io();
    const args = ['--url', deadUrl, '--token', token, '--db', db];
    expect(await runClientCommand([...args, 'add', 'call mum'], t.io)).toBe(0);
    expect(t.out.join('\n')).toContain('added [ ] call mum');
    expect(t.err.join('\n')).toMatch(/saved in the file; not synced \(network: /);
    const status = io();
    await runClientCommand([...args, 'status'], status.io);
    expect(status.out.join('\n')).toMatch(/pending: +2 row\(s\)/);
    const sync = io();
    expect(await runClientCommand([...args, 'sync'], sync.io)).toBe(1);
    expect(sync.err.join('\n')).toContain('local changes are kept');
    // The server again: the next sync pushes what waited.
    expect(
      await runClientCommand(['--url', url, '--token', token, '--db', db, 'sync'], sync.io),
    ).toBe(0);
    expect(sync.out.join('\n')).toMatch(/pushed 2/);
  });

  it('says when a conflict policy replaced a value, counts it in status and lists it with conflicts', async () => {
    // A user of its own, so the other tests' rows are not in the way.
    const own = await signToken({ secret: SECRET, userId: 'settler' });
    const device = (name: string, at = url) => [
      '--url',
      at,
      '--token',
      own,
      '--db',
      join(dir, name),
    ];
    const cli = async (args: string[]) => {
      const t = io();
      const code = await runClientCommand(args, t.io);
      return { code, out: t.out.join('\n'), err: t.err.join('\n') };
    };
    const dead = createServer();
    await new Promise<void>((resolve) => dead.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(dead.address() as AddressInfo).port}`;
    await new Promise((resolve) => dead.close(resolve));

    expect((await cli([...device('s1.db'), 'add', 'sourdough'])).code).toBe(0);
    expect((await cli([...device('s2.db'), 'rename', 'sourdough', 'rye'])).code).toBe(0);
    // Device s1 renames it too, without a server: the edit waits in its file.
    expect((await cli([...device('s1.db', deadUrl), 'rename', 'sourdough', 'spelt'])).code).toBe(0);
    expect((await cli([...device('s1.db'), 'status'])).out).toMatch(
      /settled: +0 value\(s\) replaced by a conflict policy$/m,
    );
    // Both changed the title: field-merge keeps the server's, and says what it replaced.
    const sync = await cli([...device('s1.db'), 'sync']);
    expect(sync.out).toMatch(
      /1 conflict\(s\) settled, 1 value\(s\) replaced \(see `ferry client conflicts`\)/,
    );
    expect((await cli([...device('s1.db'), 'todos'])).out).toContain('[ ] rye');
    expect((await cli([...device('s1.db'), 'status'])).out).toMatch(
      /settled: +1 value\(s\) replaced by a conflict policy \(ferry client conflicts\)/,
    );
    expect(JSON.parse((await cli([...device('s1.db'), 'status', '--json'])).out)).toMatchObject({
      settledConflicts: 1,
    });
    const listing = await cli([...device('s1.db'), 'conflicts']);
    expect(listing.code).toBe(0);
    expect(listing.out).toMatch(
      /^waiting for you: none\nsettled by a policy \(1, newest first\): .*\n {2}#\d+ {2}\S+ {2}todos \w{8} {2}field-merge: your title "spelt" → "rye"$/,
    );
    const json = JSON.parse((await cli([...device('s1.db'), 'conflicts', '--json'])).out);
    expect(json).toMatchObject({
      open: [],
      settled: [
        { table: 'todos', loser: 'local', lost: { title: 'spelt' }, won: { title: 'rye' } },
      ],
    });
    expect((await cli([...device('s2.db'), 'conflicts'])).out).toBe(
      'waiting for you: none\nsettled by a policy: none',
    );

    // watch says so too, as its sync settles one.
    expect((await cli([...device('s2.db'), 'rename', 'rye', 'barley'])).code).toBe(0);
    expect((await cli([...device('s1.db', deadUrl), 'rename', 'rye', 'emmer'])).code).toBe(0);
    const watcher = io();
    const stop = new AbortController();
    const watching = runClientCommand([...device('s1.db'), 'watch'], watcher.io, {
      signal: stop.signal,
    });
    try {
      await vi.waitFor(
        () =>
          expect(watcher.out.join('\n')).toMatch(
            /conflict: #\d+ {2}\S+ {2}todos \w{8} {2}field-merge: your title "emmer" → "barley"/,
          ),
        { timeout: 10_000 },
      );
    } finally {
      stop.abort();
    }
    expect(await watching).toBe(0);
  });

  it('watch prints another device’s changes as they arrive and stops cleanly on Ctrl-C', async () => {
    await run('writer', 'add-list', 'Chores');
    const watcher = spawnCli(['--db', join(dir, 'watcher.db'), 'watch']);
    try {
      await watcher.waitFor(/realtime: connected/);
      await watcher.waitFor(/\+ list Chores {2}\(\w{8}\)/); // its first sync
      await run('writer', 'add', 'sweep', '--list', 'Chores');
      await watcher.waitFor(/\+ \[ \] sweep {2}\(\w{8}\) in Chores/);
      await run('writer', 'toggle', 'sweep');
      await watcher.waitFor(/~ \[x\] sweep {2}\(\w{8}\) in Chores/);
      watcher.child.kill('SIGINT');
      expect(await watcher.exit).toBe(0);
      expect(watcher.output()).toMatch(/stopped\s*$/);
    } finally {
      watcher.child.kill('SIGKILL');
    }
    // The watcher's file holds what it printed.
    expect((await run('watcher', 'todos', 'Chores')).out).toContain('[x] sweep');
  });

  function spawnCli(args: string[]) {
    const child: ChildProcess = spawn(
      process.execPath,
      ['--import', 'tsx', '--conditions=@ferry/source', CLI, 'client', ...args],
      {
        env: { ...process.env, FERRY_URL: url, TOKEN: token },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let text = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (text += chunk));
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    return {
      child,
      exit,
      output: () => text,
      waitFor: (pattern: RegExp) =>
        vi.waitFor(() => expect(text).toMatch(pattern), { timeout: 20_000, interval: 20 }),
    };
  }
});

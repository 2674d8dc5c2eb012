import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
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
import { parseClientArgs, runClientCommand } from './client.js';

const SECRET = 'cli-client-test-secret-of-32-bytes!';
const CLI = fileURLToPath(new URL('../cli.ts', import.meta.url));
const README = fileURLToPath(new URL('../../../../README.md', import.meta.url));

/** The shell blocks of the README's "Try two devices" section. */
function twoDevicesBlocks(): string[][] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('## Try two devices');
  const section = text.slice(start, text.indexOf('\n## ', start + 1));
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) =>
    m[1]!.split('\n').filter((line) => line.trim() !== ''),
  );
}

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

  it('runs the README’s two-devices tour as written', async () => {
    const blocks = twoDevicesBlocks();
    expect(blocks).toHaveLength(2);
    // A user of its own: the other tests' lists are not this one's.
    const env = { TOKEN: await signToken({ secret: SECRET, userId: 'tour' }), FERRY_URL: url };
    /** `npx ferry client …` → the arguments after `client`, with --db in the test directory. */
    const argsOf = (line: string) => {
      const words = line.match(/"[^"]*"|\S+/g)!.map((w) => w.replace(/^"|"$/g, ''));
      expect(words.slice(0, 3)).toEqual(['npx', 'ferry', 'client']);
      const args = words.slice(3);
      const db = args.indexOf('--db');
      if (db >= 0) args[db + 1] = join(dir, `tour-${args[db + 1]!}`);
      return args;
    };
    const watcher = io(env);
    const stop = new AbortController();
    const watching = runClientCommand(argsOf(blocks[0]![0]!), watcher.io, { signal: stop.signal });
    const shown = () => watcher.out.join('\n');
    try {
      await vi.waitFor(() => expect(shown()).toContain('realtime: connected'), {
        timeout: 10_000,
      });
      // What the watcher prints after each command, as the README says (a person types them
      // seconds apart; here each waits for the watcher).
      const expected = [
        /\+ list Groceries/,
        /\+ \[ \] milk .* in Groceries/,
        /~ \[x\] milk .* in Groceries/,
        null,
      ];
      expect(blocks[1]).toHaveLength(expected.length);
      for (const [index, line] of blocks[1]!.entries()) {
        const t = io(env);
        expect(await runClientCommand(argsOf(line), t.io), line).toBe(0);
        const pattern = expected[index];
        if (pattern) {
          await vi.waitFor(() => expect(shown()).toMatch(pattern), { timeout: 10_000 });
        } else {
          expect(t.out.join('\n')).toMatch(/Groceries .*\n {2}\[x\] milk/);
        }
      }
    } finally {
      stop.abort();
    }
    expect(await watching).toBe(0);
    expect(watcher.out.at(-1)).toBe('stopped');
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

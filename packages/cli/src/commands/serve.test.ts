import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signToken } from '@ferry/server';
import { describe, expect, it } from 'vitest';
import { runCli } from '../run-cli.js';
import { DEV_SECRET_FILE, formatDevSecretFile } from './dev-secret.js';
import { loadHooks, loadSchema, parseServeArgs, redactUrl, startServe } from './serve.js';
import { captureIo } from '../test-support/capture-io.js';

const io = captureIo;

describe('ferry serve', () => {
  it('parses the flags of protocol.md with their defaults', () => {
    expect(parseServeArgs([])).toEqual({
      ok: true,
      help: false,
      options: {
        host: '127.0.0.1',
        port: 8787,
        data: './ferry-data',
        postgres: undefined,
        schema: undefined,
      },
    });
    expect(
      parseServeArgs(['--host', '0.0.0.0', '--port', '0', '--data', '/tmp/x', '--schema', 's.ts']),
    ).toMatchObject({
      ok: true,
      options: { host: '0.0.0.0', port: 0, data: '/tmp/x', schema: 's.ts' },
    });
    expect(
      parseServeArgs(['--cors', 'https://a.example.com/, https://b.example.com']),
    ).toMatchObject({
      ok: true,
      options: { cors: ['https://a.example.com', 'https://b.example.com'] },
    });
    expect(parseServeArgs(['--cors', '*'])).toMatchObject({ ok: true, options: { cors: '*' } });
    expect(parseServeArgs(['--port', 'eighty'])).toMatchObject({ ok: false });
    expect(parseServeArgs(['--nope'])).toMatchObject({ ok: false });
  });

  it('takes --adopt with --postgres only', () => {
    expect(parseServeArgs(['--postgres', 'postgres://h/db', '--adopt'])).toMatchObject({
      ok: true,
      options: { postgres: 'postgres://h/db', adopt: true },
    });
    expect(parseServeArgs(['--adopt'])).toEqual({
      ok: false,
      message: '--adopt needs --postgres (it adopts PostgreSQL tables)',
    });
  });

  it('says that PostgreSQL does not answer and exits non-zero when --postgres names a dead database', async () => {
    const t = io();
    expect(
      await runCli(
        ['serve', '--port', '0', '--postgres', 'postgres://u:secret@127.0.0.1:1/x'],
        t.io,
      ),
    ).toBe(1);
    expect(t.err.join('\n')).toContain('PostgreSQL is unavailable');
    expect(t.err.join('\n')).not.toContain('secret');
  });

  it('parses --postgres and --pg-schema, and never prints a connection password', () => {
    expect(
      parseServeArgs(['--postgres', 'postgres://127.0.0.1/app', '--pg-schema', 'sync']),
    ).toMatchObject({
      ok: true,
      options: { postgres: 'postgres://127.0.0.1/app', pgSchema: 'sync' },
    });
    expect(redactUrl('postgres://ferry:hunter2@db.internal:5432/app?sslmode=require')).toBe(
      'postgres://ferry:***@db.internal:5432/app?sslmode=require',
    );
    expect(redactUrl('host=db password=hunter2')).not.toContain('hunter2');
  });

  it('rejects unknown commands and prints usage', async () => {
    const t = io();
    expect(await runCli(['frobnicate'], t.io)).toBe(1);
    expect(t.err.join('\n')).toContain('Usage: ferry <command>');
    expect(await runCli(['serve', '--help'], t.io)).toBe(0);
    expect(t.out.join('\n')).toContain('--schema FILE');
  });

  it('loads a schema module written in TypeScript or JavaScript, and refuses one without a schema', async () => {
    // Inside the repository, so the module resolves @ferry/protocol like a user's schema would.
    const cache = join(process.cwd(), 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'ferry-schema-'));
    try {
      const declaration = `{ tables: { notes: { owner: 'owner_id', columns: { id: { type: 'uuid' }, owner_id: { type: 'text' }, body: { type: 'text' as const } } } } }`;
      writeFileSync(
        join(dir, 'notes.ts'),
        `import { defineSchema } from '@ferry/protocol';\nexport default defineSchema(${declaration});\n`,
      );
      // Plain JavaScript as `ferry serve` sees it after a build: @ferry/protocol's dist.
      const protocolDist = new URL('../../../protocol/dist/index.js', import.meta.url).href;
      writeFileSync(
        join(dir, 'notes.mjs'),
        `import { defineSchema } from '${protocolDist}';\nexport default defineSchema(${declaration.replace(' as const', '')});\n`,
      );
      writeFileSync(join(dir, 'empty.mjs'), 'export default 42;\n');
      expect((await loadSchema(join(dir, 'notes.ts'))).latest.tables.map((t) => t.name)).toEqual([
        'notes',
      ]);
      expect((await loadSchema(join(dir, 'notes.mjs'))).latest.tables.map((t) => t.name)).toEqual([
        'notes',
      ]);
      await expect(loadSchema(join(dir, 'empty.mjs'))).rejects.toThrow(/default-export a schema/);
      await expect(loadSchema(join(dir, 'missing.ts'))).rejects.toThrow(/cannot load/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the server hooks of --hooks from an ESM module, and the server refuses rows by them', async () => {
    expect(parseServeArgs(['--hooks', 'rules.js'])).toMatchObject({
      ok: true,
      options: { hooks: 'rules.js' },
    });
    // Inside the repository, as a user's module next to their schema.
    const cache = join(process.cwd(), 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'ferry-hooks-'));
    const out: string[] = [];
    try {
      writeFileSync(
        join(dir, 'rules.js'),
        `export default {\n  tables: {\n    lists: {\n      validate: (change) =>\n        change.row?.name === 'Spam' ? { refuse: { code: 'no_spam', message: 'not that name' } } : undefined,\n    },\n  },\n};\n`,
      );
      writeFileSync(join(dir, 'nothing.js'), 'export default 42;\n');
      await expect(loadHooks(join(dir, 'nothing.js'))).rejects.toThrow(
        /default-export the server's hooks/,
      );
      await expect(loadHooks(join(dir, 'missing.js'))).rejects.toThrow(
        /cannot load the hooks module/,
      );
      const secret = 'a-configured-secret-for-the-hooks-test';
      const running = await startServe(
        {
          host: '127.0.0.1',
          port: 0,
          data: join(dir, 'data'),
          postgres: undefined,
          schema: undefined,
          hooks: join(dir, 'rules.js'),
          app: false,
        },
        { out: (l) => out.push(l), err: (l) => out.push(l), env: { FERRY_JWT_SECRET: secret } },
        false,
      );
      try {
        expect(out.join('\n')).toContain(`hooks:  ${join(dir, 'rules.js')} (validate lists)`);
        const token = await signToken({ secret, userId: 'alice' });
        const [spam, fine] = [randomUUID(), randomUUID()];
        const response = await fetch(`${running.url}/v1/push`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({
            protocol: 1,
            sourceId: randomUUID(),
            sourceBundleId: 1,
            changes: [
              {
                table: 'lists',
                pk: fine,
                op: 'upsert',
                baseVersion: null,
                row: { id: fine, name: 'ok' },
              },
              {
                table: 'lists',
                pk: spam,
                op: 'upsert',
                baseVersion: null,
                row: { id: spam, name: 'Spam' },
              },
            ],
          }),
        });
        expect(response.status).toBe(403);
        expect(await response.json()).toMatchObject({
          error: {
            code: 'forbidden',
            details: {
              changes: [
                {
                  index: 1,
                  table: 'lists',
                  pk: spam,
                  hook: 'validate',
                  hookCode: 'no_spam',
                  message: 'not that name',
                },
              ],
            },
          },
        });
      } finally {
        await running.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('serves the example of docs/server.md with --schema and --hooks in TypeScript', async () => {
    const root = new URL('../../../../examples/server-hooks/src/', import.meta.url).pathname;
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    const out: string[] = [];
    const running = await startServe(
      {
        host: '127.0.0.1',
        port: 0,
        data: dir,
        postgres: undefined,
        schema: join(root, 'schema.ts'),
        hooks: join(root, 'hooks.ts'),
      },
      {
        out: (l) => out.push(l),
        err: (l) => out.push(l),
        env: { FERRY_JWT_SECRET: 'a-configured-secret-for-the-example' },
      },
      false,
    );
    try {
      expect(out.join('\n')).toContain(
        'validate lists, authorize lists, validate todos, authorize todos, authorize audit_log, beforeCommit',
      );
    } finally {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start with hooks of a table the schema does not have', async () => {
    const cache = join(process.cwd(), 'node_modules', '.cache');
    mkdirSync(cache, { recursive: true });
    const dir = mkdtempSync(join(cache, 'ferry-hooks-'));
    try {
      writeFileSync(
        join(dir, 'rules.js'),
        'export default { tables: { notes: { validate: () => undefined } } };\n',
      );
      const t = io();
      expect(
        await runCli(
          [
            'serve',
            '--port',
            '0',
            '--data',
            join(dir, 'data'),
            '--no-app',
            '--hooks',
            join(dir, 'rules.js'),
          ],
          {
            ...t.io,
            env: { FERRY_JWT_SECRET: 'a-configured-secret-for-the-hooks-test' },
          },
        ),
      ).toBe(1);
      expect(t.err.join('\n')).toContain('"notes", which is no table of the schema');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('verifies tokens against FERRY_JWKS_URL when set, without a development secret', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    const out: string[] = [];
    const running = await startServe(
      { host: '127.0.0.1', port: 0, data: dir, postgres: undefined, schema: undefined },
      {
        out: (l) => out.push(l),
        err: (l) => out.push(l),
        env: { FERRY_JWKS_URL: 'http://127.0.0.1:9/.well-known/jwks.json' },
      },
      false,
    );
    try {
      expect(running.devSecret).toBeUndefined();
      expect(out.join('\n')).toContain(
        'identity provider at http://127.0.0.1:9/.well-known/jwks.json',
      );
      expect(out.join('\n')).not.toContain('DEVELOPMENT MODE');
      // An HS256 token is not an identity provider's token.
      const hs = await signToken({ secret: 'whatever-secret', userId: 'demo' });
      const response = await fetch(`${running.url}/v1/pull`, {
        headers: { authorization: `Bearer ${hs}` },
      });
      expect(response.status).toBe(401);
    } finally {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('uses FERRY_JWT_SECRET when set: no development secret, and a ready token for demo that the server accepts', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    const out: string[] = [];
    const running = await startServe(
      { host: '127.0.0.1', port: 0, data: dir, postgres: undefined, schema: undefined },
      {
        out: (l) => out.push(l),
        err: (l) => out.push(l),
        env: { FERRY_JWT_SECRET: 'a-configured-secret-for-this-test' },
      },
      false,
    );
    try {
      expect(running.devSecret).toBeUndefined();
      const text = out.join('\n');
      expect(text).not.toContain('DEVELOPMENT MODE');
      expect(text).not.toContain('FERRY_JWT_SECRET=');
      expect(existsSync(join(dir, DEV_SECRET_FILE))).toBe(false);
      const token = /export TOKEN=(\S+)/.exec(text)?.[1];
      expect(token).toBe(running.devToken);
      expect(await pullStatus(running.url, token!)).toBe(200);
    } finally {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('prints no token with --no-demo-token', async () => {
    expect(parseServeArgs(['--no-demo-token'])).toMatchObject({
      ok: true,
      options: { demoToken: false },
    });
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    const out: string[] = [];
    const running = await startServe(
      { ...SERVE_DEFAULTS, data: dir, demoToken: false },
      { out: (l) => out.push(l), err: (l) => out.push(l), env: {} },
      false,
    );
    try {
      expect(running.devToken).toBeUndefined();
      expect(out.join('\n')).not.toContain('export TOKEN=');
      // Development mode still says where its secret is, and what it is.
      expect(out.join('\n')).toContain(`export FERRY_JWT_SECRET=${running.devSecret}`);
    } finally {
      await running.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the development secret in the data directory (mode 0600, marked development-only), so a token stays valid after a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    const data = join(dir, 'ferry-data');
    const start = async () => {
      const out: string[] = [];
      const running = await startServe(
        { ...SERVE_DEFAULTS, data },
        { out: (l) => out.push(l), err: (l) => out.push(l), env: {} },
        false,
      );
      return { running, text: out.join('\n') };
    };
    try {
      const first = await start();
      const token = /export TOKEN=(\S+)/.exec(first.text)![1]!;
      expect(first.text).toContain('DEVELOPMENT MODE');
      expect(first.text).toContain(`export FERRY_JWT_SECRET=${first.running.devSecret}`);
      expect(await pullStatus(first.running.url, token)).toBe(200);
      await first.running.stop();

      const file = join(data, DEV_SECRET_FILE);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(readFileSync(file, 'utf8')).toMatch(/^# Ferry DEVELOPMENT-ONLY JWT secret/);
      expect(first.text).toContain(file);

      const second = await start();
      try {
        expect(second.running.devSecret).toBe(first.running.devSecret);
        expect(second.text).not.toMatch(/warn|readable/i);
        expect(await pullStatus(second.running.url, token)).toBe(200);
      } finally {
        await second.running.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to start on a development secret file that holds no secret, and leaves the file as it is', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    try {
      writeFileSync(join(dir, DEV_SECRET_FILE), 'short\n', { mode: 0o600 });
      const t = io();
      expect(await runCli(['serve', '--port', '0', '--data', dir], t.io)).toBe(1);
      expect(t.err.join('\n')).toMatch(/dev-jwt-secret holds no secret .*delete it/);
      expect(readFileSync(join(dir, DEV_SECRET_FILE), 'utf8')).toBe('short\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('warns when the development secret file is readable by other users', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ferry-serve-'));
    try {
      writeFileSync(join(dir, DEV_SECRET_FILE), formatDevSecretFile('x'.repeat(43)));
      chmodSync(join(dir, DEV_SECRET_FILE), 0o644);
      const out: string[] = [];
      const running = await startServe(
        { ...SERVE_DEFAULTS, data: dir },
        { out: (l) => out.push(l), err: (l) => out.push(`ERR ${l}`), env: {} },
        false,
      );
      await running.stop();
      expect(running.devSecret).toBe('x'.repeat(43));
      expect(out.join('\n')).toMatch(/ERR .*readable by other users \(mode 644\): chmod 600/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 0,
  postgres: undefined,
  schema: undefined,
} as const;

async function pullStatus(url: string, token: string): Promise<number> {
  const response = await fetch(`${url}/v1/pull?after=0`, {
    headers: { authorization: `Bearer ${token}` },
  });
  await response.body?.cancel();
  return response.status;
}

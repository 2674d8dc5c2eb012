/**
 * Every fenced code block of README.md, run in README order against one `ferry serve` started
 * on a fresh data directory, the way a newcomer runs them in their first hour. A README edit
 * that breaks a block fails here.
 *
 * Each block is matched by exactly one step of {@link STEPS}, in order: a block without a step,
 * or a step whose block changed beyond its `block` pattern, fails with a message naming both.
 * How blocks run:
 *
 * - `sh` blocks run with bash in a fresh working directory, with `TOKEN` and `FERRY_JWT_SECRET`
 *   set from what the server printed (the README says to paste its two `export` lines). Two
 *   rewrites, and only these: `http://127.0.0.1:8787` becomes the test server's URL (and
 *   `FERRY_URL` is set to it), because a test must not take the port of a server you run; and
 *   `ferry …` runs the CLI from its TypeScript sources, because tests never need a build (the
 *   block that puts the built `ferry` on the path is checked on its own).
 *   Blocks of `ferry client` commands run line by line, as a person types them, so a step can
 *   wait for the watcher between lines.
 * - `ts` blocks run with tsx from a file inside the checkout (so `@ferry/*` resolve as the
 *   README says), in the same working directory, with the same environment and URL rewrite.
 * - Blocks that are long-running by design are stated at their step: `npm start` (the server
 *   this file starts, stops and restarts as the README says), `watch` (runs in the background
 *   from its block to the end, then gets Ctrl-C), and the simulation's `npm run sim` lines (the
 *   long run is started and interrupted once it reports; the others run one seed of 100
 *   operations, through `FERRY_SIM_SEEDS` and `FERRY_SIM_OPS`, the budgets the README names).
 *   Budgets of the test tier (vitest.config.ts) reach every command through the environment.
 * - A block without a language is output; its step says whose.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const README = join(ROOT, 'README.md');
const CLI = fileURLToPath(new URL('./cli.ts', import.meta.url));
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
/** How the test runs TypeScript from source, for the CLI and for `ts` blocks. */
const NODE_TS = ['--import', TSX, '--conditions=@ferry/source'];
const README_URL = 'http://127.0.0.1:8787';
/** Waits for output the README promises "a moment later" (the watcher, the server). */
const PATIENCE_MS = 60_000;

/** One fenced block of the README. */
interface Block {
  readonly index: number;
  readonly lang: string;
  readonly text: string;
}

/** The fenced code blocks of `markdown`, in order. */
function codeBlocks(markdown: string): Block[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m, index) => ({
    index: index + 1,
    lang: m[1]!,
    text: m[2]!,
  }));
}

/** What a command printed, and how it ended. */
interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A process the test started, with its output so far. */
interface Running {
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;
  output(): string;
  waitFor(pattern: RegExp, what: string): Promise<void>;
  /** Ctrl-C: SIGINT to its process group; resolves with its exit code. */
  interrupt(): Promise<number | null>;
}

/** Everything the steps share: the working directory, the server, the watcher. */
interface Tour {
  readonly work: string;
  readonly data: string;
  readonly env: Record<string, string>;
  server: Running | undefined;
  serverUrl: string;
  serverText: string;
  watcher: Running | undefined;
}

/** A step: which block it takes, and how it runs and checks it. */
interface Step {
  readonly what: string;
  readonly lang: string;
  readonly block: RegExp;
  run(block: Block, tour: Tour): Promise<void>;
}

const SIM_SEEDS = '1';
const SIM_OPS = '100';

const STEPS: readonly Step[] = [
  {
    what: 'the two commands: npm start runs ferry serve, npm test the tests',
    lang: 'sh',
    block: /^npm install && npm start .*\nnpm test .*\n$/,
    async run(_, tour) {
      // `npm install` has run (this test runs), and `npm test` is what runs this test. `npm
      // start` is the build (which tests never need) and then `ferry serve`, which is what
      // starts here: from the sources, on a fresh data directory and a free port.
      const scripts = (
        JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
          scripts: Record<string, string>;
        }
      ).scripts;
      expect(scripts['start']).toMatch(/&& ferry serve$/);
      expect(scripts['test']).toMatch(/vitest run/);
      await startServer(tour, 0);
      expect(tour.serverText).toContain(`listening on ${tour.serverUrl}`);
      expect(tour.serverText).toContain('DEVELOPMENT MODE');
    },
  },
  {
    what: 'the output of npm start: the secret and a token to paste',
    lang: '',
    block: /export FERRY_JWT_SECRET=…\n.*export TOKEN=eyJ/,
    async run(block, tour) {
      for (const line of block.text.split('\n').filter((l) => l.trim() !== '')) {
        const pattern = new RegExp(`^${line.split('…').map(escapeRegExp).join('\\S+')}`, 'm');
        expect(tour.serverText, line).toMatch(pattern);
      }
      tour.env['FERRY_JWT_SECRET'] = /export FERRY_JWT_SECRET=(\S+)/.exec(tour.serverText)![1]!;
      tour.env['TOKEN'] = /export TOKEN=(\S+)/.exec(tour.serverText)![1]!;
    },
  },
  curl('the server answers', /healthz/, (out) => expect(out).toBe('{"ok":true}')),
  curl(
    'the first push commits bundle 1, and a retry gets the stored answer',
    /"sourceBundleId": 1,/,
    async (out, again) => {
      expect(out).toContain('"sourceBundleId":1,"bundleSeq":1,"rows":[{"table":"lists"');
      expect(await again()).toBe(out);
    },
  ),
  curl(
    'a push on an outdated version is a 409 with the server row',
    /"title": "brass nails"}}/,
    (out) => {
      expect(out).toContain('"code":"conflict"');
      expect(out).toContain('"serverVersion":1');
    },
  ),
  curl('the same bundle id with the right base commits as bundle 2', /"baseVersion": 1,/, (out) =>
    expect(out).toContain('"sourceBundleId":2,"bundleSeq":2'),
  ),
  curl('a pull from the start', /v1\/pull\?after=0/, (out) =>
    expect(out).toContain('"stableBundleSeq":2,"hasMore":false'),
  ),
  curl('a sync without a push', /v1\/sync/, (out) =>
    expect(out).toContain('{"push":null,"pull":{"bundles":[{"bundleSeq":2'),
  ),
  curl('a snapshot', /v1\/snapshot/, (out) => expect(out).toContain('{"end":true,"rowCount":2}')),
  curl('the events stream starts with a poke', /v1\/events/, (out) =>
    expect(out).toContain('event: poke\ndata: {"bundleSeq":2}'),
  ),
  curl('an error without a token: a body as the README describes it', /v1\/pull\n$/, (out) => {
    // The README: code and message, and no details on a 401.
    expect(JSON.parse(out)).toEqual({
      error: { code: 'unauthorized', message: expect.any(String) },
    });
  }),
  {
    what: 'the checkout’s ferry on the path',
    lang: 'sh',
    block: /^export PATH="\$PWD\/node_modules\/\.bin:\$PATH"\n$/,
    async run(block) {
      // As written, in the checkout (no shim here): `ferry` is then the checkout's command.
      const child = spawn('bash', ['-c', `${block.text}command -v ferry`], { cwd: ROOT });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      const code = await new Promise((resolve) => child.on('close', resolve));
      expect(code).toBe(0);
      expect(out.trim()).toBe(join(ROOT, 'node_modules', '.bin', 'ferry'));
    },
  },
  {
    what: 'watch (runs in the background until the end of the tour, then gets Ctrl-C)',
    lang: 'sh',
    block: /^ferry client --db phone\.db watch\n$/,
    async run(block, tour) {
      tour.watcher = startShell(block.text, tour);
      await tour.watcher.waitFor(/realtime: connected/, 'the watcher connected');
    },
  },
  cliLines(
    'the laptop adds a list and a todo, and toggles it; the watcher prints each',
    /add-list Groceries/,
    [
      { out: /added list Groceries/, watcher: /\+ list Groceries/ },
      { out: /added \[ \] milk .* in Groceries\nsynced/, watcher: /\+ \[ \] milk .* in Groceries/ },
      { out: /\[x\] milk/, watcher: /~ \[x\] milk .* in Groceries/ },
      { out: /Groceries .*\n {2}\[x\] milk/ },
    ],
  ),
  {
    what: 'with the server stopped (Ctrl-C), a write stays in the file, pending',
    lang: 'sh',
    block: /add bread --list Groceries\n.*status\n$/,
    async run(block, tour) {
      expect(await tour.server!.interrupt()).toBe(0);
      await runCliLines(block, tour, [
        { out: /added \[ \] bread/, err: /saved in the file; not synced/ },
        { out: /pending: +1 row\(s\)/ },
      ]);
      await tour.watcher!.waitFor(/retry|offline|disconnected/, 'the watcher says it is retrying');
    },
  },
  {
    what: 'after a restart (npm start again), the pasted token still works and sync pushes what waited',
    lang: 'sh',
    block: /^ferry client --db laptop\.db sync\n$/,
    async run(block, tour) {
      const before = tour.env['FERRY_JWT_SECRET'];
      await startServer(tour, Number(new URL(tour.serverUrl).port));
      expect(/export FERRY_JWT_SECRET=(\S+)/.exec(tour.serverText)![1]).toBe(before);
      await runCliLines(block, tour, [
        { out: /synced: pushed 1,/, watcher: /\+ \[ \] bread .* in Groceries/ },
      ]);
    },
  },
  cliLines('renames and removals reach the watcher', /rename bread "rye bread"/, [
    { out: /renamed bread to \[ \] rye bread/, watcher: /~ \[ \] rye bread .* in Groceries/ },
    { out: /removed \[x\] milk/, watcher: /- milk/ },
    { out: /^Groceries .*\n {2}\[ \] rye bread .*\n$/ },
  ]),
  {
    what: 'embedding the server in a program',
    lang: 'ts',
    block: /createFerryServer\(/,
    async run(block, tour) {
      const ran = await runTypeScript(block, tour);
      expect(ran).toMatchObject({ code: 0, stderr: '' });
      // The server logs to stdout too (pino); the program's own line comes last.
      expect(ran.stdout.trimEnd().split('\n').at(-1)).toBe('1');
    },
  },
  {
    what: 'the client library against the running server; the program ends',
    lang: 'ts',
    block: /createClient\(/,
    async run(block, tour) {
      const ran = await runTypeScript(block, tour);
      expect(ran).toMatchObject({ code: 0, stderr: '' });
      expect(ran.stdout).toMatch(/^idle 0$/m);
      // It pushed its list to the server: the laptop sees it.
      const laptop = await runShell(
        'ferry client --db laptop.db sync && ferry client --db laptop.db lists',
        tour,
      );
      expect(laptop.stdout).toMatch(/^Reading .* 1 open, 0 done$/m);
    },
  },
  {
    what: 'the simulation from the command line (budgets stated in the file comment)',
    lang: 'sh',
    block:
      /^npm run sim {2,}#.*\nnpm run sim -- --seeds 100000 .*\nSEED=1234 npm run sim -- --trace .*\nnpm run sim -- --schema \S+ .*\n$/,
    async run(block, tour) {
      const [few, long, replay, schema] = block.text.trim().split('\n');
      // From seed 1, as CI runs them: this test checks that the commands run as written and
      // report as the README says (a summary; exit code 1 exactly when an invariant broke).
      // Whether the seeds pass is test/simulation's to say, over these seeds and many more.
      const env = {
        ...tour.env,
        FERRY_SIM_SEEDS: SIM_SEEDS,
        FERRY_SIM_OPS: SIM_OPS,
        FERRY_SIM_START: '1',
      };
      const reported = async (line: string, seeds: string) => {
        const ran = await runShell(line, tour, { cwd: ROOT, env });
        const summary = new RegExp(`seeds run: ${seeds};.*invariant violations: (\\d+);`).exec(
          ran.stdout,
        );
        expect(summary, `${line}\n${ran.stdout}${ran.stderr}`).not.toBeNull();
        expect(ran.code, line).toBe(summary![1] === '0' ? 0 : 1);
        return ran;
      };
      await reported(few!, SIM_SEEDS);
      // The long run: it starts and says what it runs; then Ctrl-C.
      const running = startShell(long!, tour, { cwd: ROOT, env });
      await running.waitFor(
        /ferry sim: seeds \d+\.\.\d+ \(100000\), \d+ operations each, 2 workers/,
        'the long run started',
      );
      await running.interrupt();
      const replayed = await reported(replay!, '1');
      expect(replayed.stdout).toContain('ferry sim: seed 1234');
      expect(replayed.stdout.split('\n').length).toBeGreaterThan(50); // every step
      await reported(schema!, SIM_SEEDS);
    },
  },
  {
    what: 'the simulation from code',
    lang: 'ts',
    block: /runSimulation\(/,
    async run(block, tour) {
      // It ran (a failing seed would print its violations: test/simulation's verdict).
      expect(await runTypeScript(block, tour)).toMatchObject({ code: 0 });
    },
  },
];

describe('the README', () => {
  const blocks = codeBlocks(readFileSync(README, 'utf8'));
  const tour: Tour = {
    work: '',
    data: '',
    env: {},
    server: undefined,
    serverUrl: '',
    serverText: '',
    watcher: undefined,
  };
  beforeAll(() => {
    const work = mkdtempSync(join(tmpdir(), 'ferry-readme-'));
    Object.assign(tour, { work, data: join(work, 'ferry-data') });
  });
  afterAll(async () => {
    await tour.watcher?.interrupt();
    await tour.server?.interrupt();
    rmSync(tour.work, { recursive: true, force: true });
  });

  it('has one step of this test for each of its code blocks, in order', () => {
    const described = blocks.map(
      (b) => `block ${b.index} (${b.lang || 'output'}): ${b.text.split('\n')[0]}`,
    );
    expect(blocks.length, described.join('\n')).toBe(STEPS.length);
    for (const [i, step] of STEPS.entries()) {
      const block = blocks[i]!;
      expect(
        block.lang,
        `${described[i]} is a ${block.lang || 'output'} block; step "${step.what}" expects ${step.lang || 'output'}`,
      ).toBe(step.lang);
      expect(block.text, `${described[i]} is not what step "${step.what}" expects`).toMatch(
        step.block,
      );
    }
  });

  for (const [i, step] of STEPS.entries()) {
    it(`runs block ${i + 1} as written: ${step.what}`, { timeout: 240_000 }, async (context) => {
      const block = blocks[i];
      if (block === undefined || !step.block.test(block.text) || block.lang !== step.lang) {
        context.skip('the block does not match its step (see the first test)');
      }
      await step.run(block!, tour);
    });
  }

  it('stops the watcher with Ctrl-C, and it says so', async () => {
    if (tour.watcher === undefined) return;
    expect(await tour.watcher.interrupt()).toBe(0);
    expect(tour.watcher.output()).toMatch(/stopped\s*$/);
    tour.watcher = undefined;
  });
});

/** A curl block of the tour: run as written, with its output checked. */
function curl(
  what: string,
  block: RegExp,
  check: (output: string, again: () => Promise<string>) => void | Promise<void>,
): Step {
  return {
    what,
    lang: 'sh',
    block: new RegExp(`^curl [\\s\\S]*${block.source}`),
    async run(b, tour) {
      const ran = await runShell(b.text, tour);
      // `curl --max-time` ends the event stream with status 28; its output is what counts.
      expect([0, 28], ran.stderr).toContain(ran.code);
      await check(ran.stdout, async () => (await runShell(b.text, tour)).stdout);
    },
  };
}

/** What one line of a `ferry client` block must print, and the watcher after it. */
interface LineCheck {
  readonly out: RegExp;
  readonly err?: RegExp;
  readonly watcher?: RegExp;
}

function cliLines(what: string, block: RegExp, checks: readonly LineCheck[]): Step {
  return {
    what,
    lang: 'sh',
    block: new RegExp(`^ferry client [\\s\\S]*${block.source}`),
    run: (b, tour) => runCliLines(b, tour, checks),
  };
}

/** Runs a block of `ferry client` commands line by line, checking each. */
async function runCliLines(block: Block, tour: Tour, checks: readonly LineCheck[]): Promise<void> {
  const lines = block.text.split('\n').filter((line) => line.trim() !== '');
  expect(lines.length, block.text).toBe(checks.length);
  for (const [i, line] of lines.entries()) {
    const ran = await runShell(line, tour);
    const check = checks[i]!;
    const said = `${line}\nstdout:\n${ran.stdout}stderr:\n${ran.stderr}`;
    expect(ran.code, said).toBe(0);
    expect(ran.stdout, said).toMatch(check.out);
    if (check.err) expect(ran.stderr, said).toMatch(check.err);
    if (check.watcher) await tour.watcher!.waitFor(check.watcher, `the watcher after "${line}"`);
  }
}

/** `ferry serve` as `npm start` runs it (from the sources), on the tour's data directory. */
async function startServer(tour: Tour, port: number): Promise<void> {
  // Development mode, as on a newcomer's machine, whatever the environment of the test run.
  const env: Record<string, string | undefined> = { ...process.env, FERRY_LOG_LEVEL: 'warn' };
  delete env['FERRY_JWT_SECRET'];
  delete env['FERRY_JWKS_URL'];
  const child = spawn(
    process.execPath,
    [...NODE_TS, CLI, 'serve', '--port', String(port), '--data', tour.data],
    { cwd: tour.work, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  tour.server = track(child);
  await tour.server.waitFor(/export TOKEN=\S+\n[\s\S]*Try: /, 'the server printed its token');
  tour.serverText = tour.server.output();
  tour.serverUrl = /listening on (http:\/\/\S+)/.exec(tour.serverText)![1]!;
  tour.env['FERRY_URL'] = tour.serverUrl;
}

/** Runs `script` with bash as the README's reader would (see the file comment for the rewrites). */
async function runShell(
  script: string,
  tour: Tour,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Ran> {
  const running = startShell(script, tour, options);
  const code = await running.exit;
  return { code, ...running.split() };
}

function startShell(
  script: string,
  tour: Tour,
  options: { cwd?: string; env?: Record<string, string> } = {},
): Running & { split(): { stdout: string; stderr: string } } {
  const prelude = [
    'set -e',
    // `ferry …`: the CLI from its sources (the README's reader runs the built one).
    `ferry() { node ${NODE_TS.map(shellQuote).join(' ')} ${shellQuote(CLI)} "$@"; }`,
  ].join('\n');
  const child = spawn(
    'bash',
    ['-c', `${prelude}\n${script.replaceAll(README_URL, tour.serverUrl)}`],
    {
      cwd: options.cwd ?? tour.work,
      env: { ...process.env, ...(options.env ?? tour.env) },
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return track(child);
}

/** Runs a `ts` block with tsx from a file inside the checkout, in the tour's directory. */
async function runTypeScript(block: Block, tour: Tour): Promise<Ran> {
  // In the checkout, as the README says (its .gitignore has .ferry-*), for the packages to resolve.
  const dir = join(ROOT, `.ferry-readme-${process.pid}`);
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `block-${block.index}.ts`);
  writeFileSync(file, block.text.replaceAll(README_URL, tour.serverUrl));
  try {
    return await runShell(`node ${NODE_TS.map(shellQuote).join(' ')} ${shellQuote(file)}`, tour);
  } finally {
    rmSync(dirname(file), { recursive: true, force: true });
  }
}

function track(child: ChildProcess): Running & { split(): { stdout: string; stderr: string } } {
  let all = '';
  let stdout = '';
  let stderr = '';
  child
    .stdout!.setEncoding('utf8')
    .on('data', (chunk: string) => ((all += chunk), (stdout += chunk)));
  child
    .stderr!.setEncoding('utf8')
    .on('data', (chunk: string) => ((all += chunk), (stderr += chunk)));
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), 200_000);
  void exit.then(() => clearTimeout(timer));
  return {
    child,
    exit,
    output: () => all,
    split: () => ({ stdout, stderr }),
    waitFor: (pattern, what) =>
      vi.waitFor(() => expect(all, what).toMatch(pattern), { timeout: PATIENCE_MS, interval: 50 }),
    interrupt: async () => {
      signalGroup(child, 'SIGINT');
      return exit;
    },
  };
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch {
    // already gone
  }
}

function shellQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe, type RunningServe } from './commands/serve.js';

const README = fileURLToPath(new URL('../../../README.md', import.meta.url));

/** The shell blocks of the README's curl tour, in order. */
function tourBlocks(): string[] {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('## A tour of the protocol with curl');
  const end = text.indexOf('\n## ', start + 1);
  const section = text.slice(start, end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
}

/** What each block's output must show, in README order. */
const EXPECTED = [
  '{"ok":true}',
  '"sourceBundleId":1,"bundleSeq":1,"rows":[{"table":"lists"',
  '"code":"conflict"',
  '"sourceBundleId":2,"bundleSeq":2',
  '"stableBundleSeq":2,"hasMore":false',
  '{"push":null,"pull":{"bundles":[{"bundleSeq":2',
  '{"end":true,"rowCount":2}',
  'event: poke\ndata: {"bundleSeq":2}',
  '"code":"unauthorized"',
];

describe('the README', () => {
  let serve: RunningServe;
  let dir: string;
  let token: string;
  const printed: string[] = [];
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ferry-readme-'));
    serve = await startServe(
      {
        host: '127.0.0.1',
        port: 0,
        data: join(dir, 'ferry-data'),
        postgres: undefined,
        schema: undefined,
      },
      { out: (line) => printed.push(line), err: (line) => printed.push(line), env: {} },
      false,
    );
    token = /export TOKEN=(\S+)/.exec(printed.join('\n'))![1]!;
  });
  afterAll(async () => {
    await serve.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('prints the development mode line, the secret and a ready token', () => {
    const text = printed.join('\n');
    expect(text).toContain('DEVELOPMENT MODE');
    expect(text).toMatch(/export FERRY_JWT_SECRET=\S{20,}/);
    expect(text).toContain(`listening on ${serve.url}`);
  });

  it('runs the curl tour as written, against the server ferry serve starts', async () => {
    const blocks = tourBlocks();
    expect(blocks).toHaveLength(EXPECTED.length);
    // Asynchronously: the server runs in this process and must keep answering.
    const run = async (block: string) => {
      try {
        const { stdout } = await promisify(execFile)(
          'bash',
          ['-c', block.replaceAll('http://127.0.0.1:8787', serve.url)],
          { env: { ...process.env, TOKEN: token }, encoding: 'utf8', timeout: 20_000 },
        );
        return stdout;
      } catch (error) {
        // `curl --max-time` ends the event stream with status 28; its output is what counts.
        return (error as { stdout?: string }).stdout ?? '';
      }
    };
    const outputs: string[] = [];
    for (const [index, block] of blocks.entries()) {
      const output = await run(block);
      outputs.push(output);
      expect(output, `block ${index + 1}:\n${block}`).toContain(EXPECTED[index]);
      if (index === 1) expect(await run(block)).toBe(output); // the retry gets the stored answer
    }
    expect(outputs[2]).toContain('"serverVersion":1');
  });
});

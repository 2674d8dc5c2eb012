/**
 * Runs crash-child.ts in its own process. The child is bundled once per test file with esbuild
 * (from the TypeScript sources, through the "@ferry/source" condition) and started with plain
 * `node`: a process start then costs a fraction of what compiling the sources in every child
 * would, which is what makes 20 kills per point affordable in CI.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SOURCE = fileURLToPath(new URL('./crash-child.ts', import.meta.url));

/** How a child ended. */
export interface ChildRun {
  readonly signal: NodeJS.Signals | null;
  readonly code: number | null;
  readonly output: string;
}

/** The bundled child: `run(env)` starts one process; `dispose()` removes the bundle. */
export interface CrashChild {
  run(env: Record<string, string>): Promise<ChildRun>;
  dispose(): void;
}

/** Where bundles go: inside the repository, so that `better-sqlite3` resolves from node_modules. */
const CACHE = fileURLToPath(
  new URL('../../node_modules/.cache/ferry-crash-child', import.meta.url),
);

export async function bundleCrashChild(): Promise<CrashChild> {
  mkdirSync(CACHE, { recursive: true });
  const dir = mkdtempSync(join(CACHE, 'bundle-'));
  const outfile = join(dir, 'crash-child.mjs');
  await build({
    entryPoints: [SOURCE],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['@ferry/source'],
    // Native and CommonJS-only packages load from node_modules as usual.
    external: ['better-sqlite3'],
    banner: {
      js: "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);",
    },
    logLevel: 'error',
  });
  return {
    run: (env) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [outfile], {
          env: { ...process.env, ...env },
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
        child.on('error', reject);
        child.on('exit', (code, signal) => resolve({ code, signal, output }));
      }),
    dispose: () => rmSync(dir, { recursive: true, force: true }),
  };
}

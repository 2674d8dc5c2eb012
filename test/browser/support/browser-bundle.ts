/**
 * Builds what the browser tests load, once per process: the test page and the database worker
 * bundled by esbuild from the TypeScript sources (the workspace's source condition), wa-sqlite's
 * two `.wasm` builds beside them, and an HTML page.
 */
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
let built: Promise<string> | undefined;

/** The directory holding `index.html`, `page.js`, `worker.js` and the wasm files. */
export function browserBundle(): Promise<string> {
  built ??= buildBundle();
  return built;
}

async function buildBundle(): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-browser-'));
  const common = {
    bundle: true,
    format: 'esm' as const,
    platform: 'browser' as const,
    target: 'es2022',
    conditions: ['@ferry/source'],
    logLevel: 'error' as const,
    sourcemap: 'inline' as const,
  };
  await build({
    ...common,
    entryPoints: { page: join(here, '../page/page-entry.ts') },
    outdir: dir,
  });
  const require = createRequire(import.meta.url);
  await build({
    ...common,
    entryPoints: { worker: require.resolve('@ferry/client/wa-sqlite-worker') },
    outdir: dir,
  });
  const dist = join(dirname(require.resolve('@journeyapps/wa-sqlite/package.json')), 'dist');
  for (const file of ['wa-sqlite.wasm', 'wa-sqlite-async.wasm']) {
    copyFileSync(join(dist, file), join(dir, file));
  }
  writeFileSync(
    join(dir, 'index.html'),
    '<!doctype html><html><head><meta charset="utf-8"><title>ferry test</title>' +
      '<script type="module" src="./page.js"></script></head><body></body></html>',
  );
  return dir;
}

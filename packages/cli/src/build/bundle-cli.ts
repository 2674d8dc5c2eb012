/**
 * `npm run build`'s last step: bundles the built `ferry` entry and the `ferry client` path
 * (client engine, protocol, zod, the example schema) into `dist/bundle/`, the modules
 * `bin/ferry.js` runs. Node then reads a few files instead of resolving and loading a few
 * hundred, which was a third of a `ferry client` start (bench/README.md, "CLI start").
 *
 * `ferry serve` stays apart, loaded from `dist/commands/serve.js` as the tests run it: its
 * logger starts worker threads by file name, and a server has no start time to save.
 * better-sqlite3 is native and stays a package.
 *
 * @module
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const DIST = fileURLToPath(new URL('..', import.meta.url));

await build({
  entryPoints: [join(DIST, 'cli.js')],
  outdir: join(DIST, 'bundle'),
  bundle: true,
  splitting: true, // `import()` of a command stays lazy: each command is a chunk of its own
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: ['better-sqlite3'],
  plugins: [
    {
      name: 'serve-stays-apart',
      setup(bundle) {
        bundle.onResolve({ filter: /\/commands\/serve\.js$/ }, () => ({
          path: '../commands/serve.js', // from dist/bundle/, where every chunk lies
          external: true,
        }));
      },
    },
  ],
  logLevel: 'warning',
});

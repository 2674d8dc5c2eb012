import { defineConfig } from 'vitest/config';

// Tests run against TypeScript sources: the "@ferry/source" export condition points every
// workspace package at its src/ instead of its built dist/.
const conditions = ['@ferry/source', 'module', 'node', 'import', 'default'];
// Vitest also hands the SSR conditions to its Node workers as --conditions flags, where they
// apply to require() too: "import" there makes a CommonJS package (pg) require the ESM build of
// a dependency (pg-pool). Vite adds import/require by itself, so list only our own condition.
const ssrConditions = ['@ferry/source', 'node'];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions: ssrConditions, externalConditions: ['@ferry/source'] } },
  test: {
    include: [
      'packages/*/src/**/*.test.ts',
      'packages/*/test/**/*.test.ts',
      'examples/*/src/**/*.test.ts',
      'examples/*/test/**/*.test.ts',
      'test/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    // Two cores on CI: keep parallelism modest so timing-sensitive servers are not starved.
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
  },
});

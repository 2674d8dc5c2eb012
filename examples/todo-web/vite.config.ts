import { defineConfig } from 'vite';

// The workspace's packages are built from their TypeScript sources (the "@ferry/source" export
// condition), so `npm run build` needs no compiled dist first. JSX goes through esbuild's
// automatic runtime: no React plugin is needed for a production build.
export default defineConfig({
  root: import.meta.dirname,
  resolve: { conditions: ['@ferry/source', 'module', 'browser', 'development|production'] },
  esbuild: { jsx: 'automatic' },
  worker: { format: 'es' },
  optimizeDeps: { exclude: ['@journeyapps/wa-sqlite'] },
  build: { outDir: 'dist', emptyOutDir: true, target: 'es2022' },
  server: { proxy: { '/v1': 'http://127.0.0.1:8787', '/dev': 'http://127.0.0.1:8787' } },
});

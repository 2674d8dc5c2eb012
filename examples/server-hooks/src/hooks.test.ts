import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('the server-hooks example', () => {
  it('is the hooks module docs/server.md shows, word for word (but its doc comment)', () => {
    const module = read('./hooks.ts').replace(/\/\*\*[\s\S]*?\*\/\n/, '');
    const docs = read('../../../docs/server.md');
    const block = /```ts\n(import type \{ HookContext[\s\S]*?)```\n/.exec(docs)?.[1];
    expect(block).toBe(module);
  });
});

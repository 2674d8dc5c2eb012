import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/** The top folder of a path under src (`.` for files at the top). */
function folderOf(path: string): string {
  const parts = relative(SRC, path).split(sep);
  return parts.length > 1 ? parts[0]! : '.';
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts') ? [path] : [];
  });
}

/** Folder → folders it imports from (relative imports only), with one importing file each. */
function folderImports(): Map<string, Map<string, string>> {
  const graph = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(SRC)) {
    const from = folderOf(file);
    for (const match of readFileSync(file, 'utf8').matchAll(/from '(\.[^']+)'/g)) {
      const to = folderOf(normalize(join(dirname(file), match[1]!)));
      if (to === from) continue;
      const edges = graph.get(from) ?? new Map<string, string>();
      if (!edges.has(to)) edges.set(to, relative(SRC, file));
      graph.set(from, edges);
    }
  }
  return graph;
}

describe('client folders', () => {
  it('import each other without cycles in the engine’s code (tests, and the top-level files that wire the parts, aside)', () => {
    const graph = folderImports();
    const cycles: string[] = [];
    for (const [a, edges] of graph) {
      for (const [b, file] of edges) {
        const back = graph.get(b)?.get(a);
        if (a < b && a !== '.' && b !== '.' && back !== undefined) {
          cycles.push(`${a} ↔ ${b} (${file}; ${back})`);
        }
      }
    }
    expect(cycles).toEqual([]);
  });

  it('run SQL on the metadata tables (ferry_*) only in local/', () => {
    // The engine's statements on its own tables sit behind local/'s modules; the other folders
    // call them by name.
    const statement = /(FROM|INTO|UPDATE|JOIN|TABLE)\s+(temp\.)?ferry_[a-z_]+/;
    const outside = sourceFiles(SRC)
      .map((file) => relative(SRC, file).split(sep).join('/'))
      .filter((file) => !file.startsWith('local/'))
      .filter((file) => statement.test(readFileSync(join(SRC, file), 'utf8')));
    expect(outside).toEqual([]);
  });
});

import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = dirname(fileURLToPath(import.meta.url));

/**
 * The modules a start of `ferry` loads before it knows its command: the static (non-type)
 * imports reachable from `entry`, as source files of this package and bare specifiers.
 */
function staticImportGraph(entry: string): { files: string[]; packages: string[] } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly) {
        specifier = statement.moduleSpecifier;
      } else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly) {
        specifier = statement.moduleSpecifier;
      }
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
      const name = specifier.text;
      if (name.startsWith('.')) visit(resolve(dirname(file), name.replace(/\.js$/, '.ts')));
      else packages.add(name);
    }
  };
  visit(entry);
  return {
    files: [...files].map((file) => file.slice(SRC.length + 1)).sort(),
    packages: [...packages].sort(),
  };
}

describe('the start of ferry', () => {
  it('loads no engine before it knows the command: help and usage need only Node built-ins', () => {
    const graph = staticImportGraph(resolve(SRC, 'cli.ts'));
    // The server (pino, jose, the stores), the client engine (zod, SQLite) and the schema load
    // with `import()` when `serve` or a `client` command runs: measured, they are most of a
    // start (see bench/README.md, "CLI start").
    expect(graph.packages.every((name) => name.startsWith('node:'))).toBe(true);
    expect(graph.files).toEqual(['cli.ts', 'commands/client-command.ts', 'run-cli.ts']);
  });

  it('finds the engine in the import graph of a command module (the check can fail)', () => {
    const graph = staticImportGraph(resolve(SRC, 'commands/client.ts'));
    expect(graph.packages).toEqual(expect.arrayContaining(['@ferry/client', '@ferry/protocol']));
  });
});

import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { FerryError } from '@ferry/protocol';

/**
 * The default export of a module `ferry` is pointed at (`--schema`, `--hooks`): `.ts`, `.mts`
 * and `.cts` files through tsx's ESM API, anything else with a plain `import()`. `what` names
 * the module in the error when it cannot be loaded.
 */
export async function importDefault(file: string, what: string): Promise<unknown> {
  const url = pathToFileURL(resolve(file)).href;
  let module: { default?: unknown };
  try {
    if (/\.[mc]?ts$/.test(file)) {
      const { tsImport } = await import('tsx/esm/api');
      module = (await tsImport(url, import.meta.url)) as { default?: unknown };
    } else {
      module = (await import(url)) as { default?: unknown };
    }
  } catch (cause) {
    throw new FerryError(
      'invalid_argument',
      `cannot load the ${what} module ${file}: ${String(cause)}`,
      {
        cause,
      },
    );
  }
  return module.default;
}

/**
 * tsImport of a CommonJS-looking module nests the default export one level deeper: the value
 * itself when it passes `is`, else its own `default` when that does.
 */
export function unwrapDefault<T>(
  value: unknown,
  is: (candidate: unknown) => candidate is T,
): unknown {
  if (is(value)) return value;
  const inner = (value as { default?: unknown } | undefined)?.default;
  return is(inner) ? inner : value;
}

/** JSON with object keys sorted, so that equal values give equal text whatever their key order. */
export function stableJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

/** Deep equality of JSON values (key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  return stableJson(a) === stableJson(b);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  return value;
}

/**
 * Equality of two rows of one table, column by column (json columns compared as JSON): what
 * the checks compare, fast enough to run after every sync.
 */
export function rowsEqual(
  columns: readonly { readonly name: string; readonly type: string }[],
  a: Readonly<Record<string, unknown>> | null | undefined,
  b: Readonly<Record<string, unknown>> | null | undefined,
): boolean {
  if (!a || !b) return a === b || (!a && !b);
  for (const column of columns) {
    const x = a[column.name] ?? null;
    const y = b[column.name] ?? null;
    if (x === y) continue;
    if (column.type === 'json' && jsonEqual(x, y)) continue;
    return false;
  }
  return true;
}

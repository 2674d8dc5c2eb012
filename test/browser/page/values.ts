/**
 * SQL values as they cross between a test in Node and a page in Chromium: playwright passes
 * JSON-like values, so a bigint and a Uint8Array travel tagged.
 */
export type Tagged =
  | string
  | number
  | boolean
  | null
  | { readonly $bigint: string }
  | { readonly $bytes: readonly number[] }
  | readonly Tagged[]
  | { readonly [key: string]: Tagged };

export function tag(value: unknown): Tagged {
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: [...value] };
  if (Array.isArray(value)) return value.map(tag);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, tag(v)]));
  }
  if (value === undefined) return null;
  return value as string | number | boolean | null;
}

export function untag(value: Tagged): unknown {
  if (Array.isArray(value)) return value.map(untag);
  if (value !== null && typeof value === 'object') {
    if ('$bigint' in value && typeof value.$bigint === 'string') return BigInt(value.$bigint);
    if ('$bytes' in value && Array.isArray(value.$bytes)) {
      return new Uint8Array(value.$bytes as number[]);
    }
    return Object.fromEntries(
      Object.entries(value as Record<string, Tagged>).map(([k, v]) => [k, untag(v)]),
    );
  }
  return value;
}

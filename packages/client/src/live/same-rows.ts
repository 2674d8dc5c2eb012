/**
 * Whether two results of a query are the same rows in the same order, value by value (blobs
 * by their bytes). Pure; a live query calls back only when this is false.
 *
 * @module
 */
import type { SqlRow } from '../driver/sqlite-driver.js';

export function sameRows(a: readonly SqlRow[], b: readonly SqlRow[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const left = a[i]!;
    const right = b[i]!;
    const keys = Object.keys(left);
    if (keys.length !== Object.keys(right).length) return false;
    for (const key of keys) {
      if (!(key in right) || !sameValue(left[key], right[key])) return false;
    }
  }
  return true;
}

function sameValue(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  return Object.is(a, b);
}

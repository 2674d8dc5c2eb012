/**
 * The value rules of a field-merge (`max`, `min`, `union`, `{ latest }`): what a column both
 * sides changed becomes. Pure; {@link mergeFields} calls {@link mergeBoth} for such a column.
 *
 * @module
 */
import { compareTimestamps } from './column-types.js';
import { rebasedCounter } from './counters.js';
import { valuesEqual } from './values-equal.js';
import type { Column, Row } from './schema.js';

/** The values a rule decides between, for one column both sides changed. */
export interface BothChanged {
  readonly local: unknown;
  readonly server: unknown;
  /** The column's value in the base (undefined: no common ancestor). */
  readonly base: unknown;
  /** The whole rows, for `{ latest }`. */
  readonly localRow: Row;
  readonly serverRow: Row;
}

/**
 * The value a column both sides changed takes under its rule, or `undefined` for `manual` (the
 * app decides). `server`/`client` take that side; `max`/`min` the larger/smaller (numbers, or
 * timestamps as time; a null loses); `union` the three-way merge of two arrays used as sets
 * ({@link unionOfSets}); `counter` the server's value plus what the local side added since the
 * base (`rebasedCounter`; the server's value when there is no base); `{ latest: column }` the
 * side whose `column` is later (the server on a tie, or when either side has none).
 *
 * | rule | local | server | base | result |
 * |---|---|---|---|---|
 * | `max` | 7 | 12 | 3 | 12 |
 * | `min` | `2026-01-02T…Z` | `2026-01-01T…Z` | null | `2026-01-01T…Z` |
 * | `union` | `["a","c"]` | `["a","b"]` | `["a"]` | `["a","b","c"]` |
 * | `union` | `["b"]` | `["a","b","c"]` | `["a","b"]` | `["b","c"]` |
 * | `counter` | 12 | 15 | 10 | 17 |
 * | `{ latest: 'edited_at' }` | local edited later | — | — | local |
 */
export function mergeBoth(column: Column, values: BothChanged): unknown {
  const { local, server } = values;
  const rule = column.merge;
  switch (rule) {
    case 'server':
      return server;
    case 'client':
      return local;
    case 'manual':
      return undefined;
    case 'max':
    case 'min': {
      if (local === null || local === undefined) return server;
      if (server === null || server === undefined) return local;
      const order = compareValues(column, local, server);
      return (rule === 'max' ? order > 0 : order < 0) ? local : server;
    }
    case 'union':
      return unionOfSets(local, server, values.base);
    case 'counter':
      // Without a base the local side's increments are unknown: the server's value stands.
      return values.base === undefined ? server : rebasedCounter(local, values.base, server);
    default: {
      const l = values.localRow[rule.latest];
      const s = values.serverRow[rule.latest];
      if (typeof l !== 'string' || typeof s !== 'string') return server;
      return compareTimestamps(l, s) > 0 ? local : server;
    }
  }
}

/** Orders two non-null values of a numeric or timestamp column. */
function compareValues(column: Column, a: unknown, b: unknown): number {
  if (column.type === 'timestamp') return compareTimestamps(String(a), String(b));
  return Number(a) - Number(b);
}

/**
 * Three-way merge of JSON arrays used as sets (elements compared as JSON values): the server's
 * elements, but those the local side removed since the base, then the local side's additions
 * the server does not have. So an element either side added stays, and one either side removed
 * stays removed. A side that is not an array counts as an empty set; without a base, nothing
 * counts as removed.
 *
 * @example
 * unionOfSets(['a', 'c'], ['a', 'b'], ['a']); // ['a', 'b', 'c']
 */
export function unionOfSets(local: unknown, server: unknown, base: unknown): unknown[] {
  const l = Array.isArray(local) ? local : [];
  const s = Array.isArray(server) ? server : [];
  const b = Array.isArray(base) ? base : [];
  const has = (set: readonly unknown[], item: unknown) => set.some((x) => valuesEqual(x, item));
  const out: unknown[] = [];
  const add = (item: unknown) => {
    if (!has(out, item)) out.push(item);
  };
  for (const item of s) if (!(has(b, item) && !has(l, item))) add(item);
  for (const item of l) if (!has(b, item)) add(item);
  return out;
}

/**
 * The arrays of rows that make up the bulk of every push body, push answer, pull page and
 * snapshot, checked at the speed of a plain loop.
 *
 * zod checks a row effect in about 4 µs, which makes the check of a 10,000-row answer one of the
 * largest costs of a sync and a long block of the event loop. The `is…` functions here accept the
 * common shape (exactly the schema's keys, with values of the schema's types and bounds) in one
 * pass and return the value unchanged; whatever they do not accept goes to the schema, which
 * decides and describes the error. They may accept less than the schema, never more:
 * `row-arrays.test.ts` checks, on valid and broken values, that what they accept the schema
 * accepts with the same output.
 *
 * @module
 */
import { z } from 'zod';

/** A primary key: a string of 1 to 512 characters or a safe integer (`PrimaryKeySchema`). */
function isKey(value: unknown): boolean {
  return typeof value === 'string'
    ? value.length >= 1 && value.length <= 512
    : Number.isSafeInteger(value);
}

function isPositiveInt(value: unknown): boolean {
  return Number.isSafeInteger(value) && (value as number) >= 1;
}

/** A plain object as JSON makes it (`RowSchema`); one with an own `__proto__` goes to zod. */
function isRow(value: unknown): boolean {
  return (
    typeof value === 'object' &&
    value !== null &&
    Object.getPrototypeOf(value) === Object.prototype &&
    !Object.hasOwn(value, '__proto__')
  );
}

/** The number of own enumerable keys, at most `max + 1`. */
function keyCount(value: object, max: number): number {
  let count = 0;
  for (const key in value) {
    if (!Object.hasOwn(value, key)) return max + 1;
    if (++count > max) return count;
  }
  return count;
}

type Loose = Record<string, unknown>;

/** The most columns an upsert's `columns` may list (`UpsertChangeSchema`). */
export const MAX_COLUMNS = 1_000;
/** The longest column name a change may name. */
export const MAX_COLUMN_NAME = 256;

/**
 * What is wrong with an upsert's `columns` list, or undefined: each name once, each a column
 * the change's `row` carries (the value to write comes from the row).
 */
export function columnListProblem(
  columns: readonly string[],
  row: Readonly<Record<string, unknown>>,
): string | undefined {
  const seen = new Set<string>();
  for (const column of columns) {
    if (seen.has(column)) return `names "${column}" twice`;
    seen.add(column);
    if (!Object.hasOwn(row, column)) return `names "${column}", which the row does not carry`;
  }
  return undefined;
}

/** `RowEffectSchema`'s common shape. */
export function isPlainRowEffect(value: unknown): boolean {
  if (!isRow(value)) return false;
  const v = value as Loose;
  if (typeof v.table !== 'string' || !isKey(v.pk) || !isPositiveInt(v.rowVersion)) return false;
  if (v.op === 'upsert' ? !isRow(v.row) : v.op !== 'delete' || v.row !== null) return false;
  if (v.tempKey !== undefined) return v.op === 'upsert' && isKey(v.tempKey) && keyCount(v, 6) === 6;
  return keyCount(v, 5) === 5;
}

/** `ChangeSchema`'s common shape. */
export function isPlainChange(value: unknown): boolean {
  if (!isRow(value)) return false;
  const v = value as Loose;
  if (typeof v.table !== 'string' || v.table.length === 0 || !isKey(v.pk)) return false;
  if (v.baseVersion !== null && !isPositiveInt(v.baseVersion)) return false;
  if (v.op === 'upsert') {
    if (!isRow(v.row)) return false;
    if (v.baseDeleted !== undefined && (v.baseDeleted !== true || v.baseVersion === null))
      return false;
    if (v.maybePushed !== undefined && (v.maybePushed !== true || v.baseVersion !== null))
      return false;
    const keys = 5 + (v.baseDeleted === true ? 1 : 0) + (v.maybePushed === true ? 1 : 0);
    if (v.columns === undefined) return keyCount(v, keys) === keys;
    return (
      Array.isArray(v.columns) &&
      v.columns.length <= MAX_COLUMNS &&
      v.columns.every(
        (c) => typeof c === 'string' && c.length >= 1 && c.length <= MAX_COLUMN_NAME,
      ) &&
      columnListProblem(v.columns as string[], v.row as Loose) === undefined &&
      keyCount(v, keys + 1) === keys + 1
    );
  }
  return v.op === 'delete' && keyCount(v, 4) === 4;
}

/** `SnapshotRowSchema`'s common shape. */
export function isPlainSnapshotRow(value: unknown): boolean {
  if (!isRow(value)) return false;
  const v = value as Loose;
  return (
    typeof v.table === 'string' &&
    isKey(v.pk) &&
    isPositiveInt(v.rowVersion) &&
    isRow(v.row) &&
    keyCount(v, 4) === 4
  );
}

/**
 * An array of `item`: each element is taken as it is when `accepts` it, else checked by `item`
 * (its issues reported under the element's index, as `z.array(item)` reports them).
 */
export function rowArray<T extends z.ZodType>(item: T, accepts: (value: unknown) => boolean) {
  return z.array(z.unknown()).transform((items, ctx): z.output<T>[] => {
    const out = new Array<z.output<T>>(items.length);
    let failed = false;
    for (let i = 0; i < items.length; i++) {
      const value = items[i];
      if (accepts(value)) {
        out[i] = value as z.output<T>;
        continue;
      }
      const parsed = item.safeParse(value);
      if (parsed.success) {
        out[i] = parsed.data;
        continue;
      }
      failed = true;
      for (const issue of parsed.error.issues) {
        ctx.addIssue({ ...issue, path: [i, ...issue.path] });
      }
    }
    return failed ? z.NEVER : out;
  });
}

/** Parses one value with `accepts` first, then `item` (a snapshot line: {@link isPlainSnapshotRow}). */
export function parseWith<T extends z.ZodType>(
  item: T,
  accepts: (value: unknown) => boolean,
  value: unknown,
): z.ZodSafeParseResult<z.output<T>> {
  if (accepts(value)) return { success: true, data: value as z.output<T> };
  return item.safeParse(value);
}

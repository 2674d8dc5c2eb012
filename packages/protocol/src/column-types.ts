/**
 * Column types of the schema, how their values look on the wire, and how they are stored in
 * SQLite. Pure functions: both the client and the server's SQLite store use them.
 *
 * @module
 */

/** The column types a schema can declare. */
export const COLUMN_TYPES = [
  'text',
  'uuid',
  'integer',
  'real',
  'boolean',
  'timestamp',
  'json',
] as const;

/** One of {@link COLUMN_TYPES}. */
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** Any JSON value. */
export type JsonValue =
  string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** The JSON value of a column type on the wire (without null). */
export type WireValueOf<T extends ColumnType> = T extends 'text' | 'uuid' | 'timestamp'
  ? string
  : T extends 'integer' | 'real'
    ? number
    : T extends 'boolean'
      ? boolean
      : JsonValue;

/** A value as SQLite stores it. */
export type SqliteValue = string | number | bigint | Buffer | null;

/** The facts about a column that value checks need. */
export interface ColumnValueRules {
  readonly type: ColumnType;
  readonly notNull: boolean;
  readonly maxLength: number | undefined;
}

/** Outcome of {@link checkColumnValue}. */
export type ColumnValueCheck =
  | { readonly ok: true; readonly value: unknown }
  | {
      readonly ok: false;
      readonly code: 'type_mismatch' | 'not_null' | 'too_long';
      readonly message: string;
    };

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TIMESTAMP_PATTERN =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/** True for a lower-case UUID string (any version). */
export function isUuid(value: unknown): value is string {
  return typeof value === 'string' && UUID_PATTERN.test(value);
}

/**
 * Parses an RFC 3339 timestamp with any offset (`Z`, `+05:30`, `-00:00`) and up to nine
 * fraction digits, and returns it in canonical form, or `undefined` when it is not one.
 *
 * The canonical form is UTC with a `Z`, and the shortest of 3, 6 or 9 fraction digits that
 * keeps every digit given: `…00.000Z` for whole milliseconds (as `Date.prototype.toISOString`
 * prints), `…00.123456Z` for microseconds, `…00.123456789Z` for nanoseconds. The same instant
 * always has the same canonical text, so equal times compare equal as strings; order them with
 * {@link compareTimestamps}, not string order (`.5Z` sorts after `.500001Z`).
 */
export function canonicalTimestamp(value: string): string | undefined {
  const match = TIMESTAMP_PATTERN.exec(value);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', zulu, sign, offH, offM] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  // RFC 3339 allows a leap second (60); Ferry's instants have none, as Date and PostgreSQL.
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  let offsetMinutes = 0;
  if (zulu === undefined) {
    const oh = Number(offH);
    const om = Number(offM);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (sign === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear takes years below 100 as they are (Date.UTC would read 50 as 1950).
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute - offsetMinutes, second, 0);
  const utcYear = date.getUTCFullYear();
  if (utcYear < 0 || utcYear > 9999) return undefined;
  const digits = fraction.padEnd(9, '0');
  const kept = digits.endsWith('000000')
    ? digits.slice(0, 3)
    : digits.endsWith('000')
      ? digits.slice(0, 6)
      : digits;
  return `${date.toISOString().slice(0, 19)}.${kept}Z`;
}

/**
 * Orders two canonical timestamps ({@link canonicalTimestamp}) by time: negative when `a` is
 * earlier, 0 when equal, positive when later.
 */
export function compareTimestamps(a: string, b: string): number {
  const seconds = a.slice(0, 19) < b.slice(0, 19) ? -1 : a.slice(0, 19) > b.slice(0, 19) ? 1 : 0;
  if (seconds !== 0) return seconds;
  const fa = a.slice(20, -1).padEnd(9, '0');
  const fb = b.slice(20, -1).padEnd(9, '0');
  return fa < fb ? -1 : fa > fb ? 1 : 0;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** Length in characters (Unicode code points), as `maxLength` counts it. */
export function characterLength(value: string): number {
  // Fast path: a string's UTF-16 length is an upper bound of its code point count.
  let surrogates = 0;
  for (let i = 0; i < value.length; i++) {
    const unit = value.charCodeAt(i);
    if (unit >= 0xdc00 && unit <= 0xdfff) surrogates++;
  }
  return value.length - surrogates;
}

/**
 * Checks one wire value against a column's rules and returns it in canonical form
 * (timestamps in UTC with the precision they were given, see {@link canonicalTimestamp}). `undefined` counts as null.
 */
export function checkColumnValue(column: ColumnValueRules, value: unknown): ColumnValueCheck {
  if (value === null || value === undefined) {
    return column.notNull
      ? { ok: false, code: 'not_null', message: 'must not be null' }
      : { ok: true, value: null };
  }
  switch (column.type) {
    case 'text':
      if (typeof value !== 'string') return mismatch('a string');
      if (column.maxLength !== undefined && value.length > column.maxLength) {
        const length = characterLength(value);
        if (length > column.maxLength) {
          return {
            ok: false,
            code: 'too_long',
            message: `is ${length} characters, at most ${column.maxLength} allowed`,
          };
        }
      }
      return { ok: true, value };
    case 'uuid':
      return isUuid(value) ? { ok: true, value } : mismatch('a lower-case UUID string');
    case 'integer':
      return typeof value === 'number' && Number.isSafeInteger(value)
        ? { ok: true, value }
        : mismatch('a safe integer');
    case 'real':
      return typeof value === 'number' && Number.isFinite(value)
        ? { ok: true, value }
        : mismatch('a finite number');
    case 'boolean':
      return typeof value === 'boolean' ? { ok: true, value } : mismatch('true or false');
    case 'timestamp': {
      const canonical = typeof value === 'string' ? canonicalTimestamp(value) : undefined;
      return canonical === undefined
        ? mismatch(
            'an RFC 3339 timestamp such as 2026-11-21T10:00:00.000Z or 2026-11-21T11:00:00+01:00',
          )
        : { ok: true, value: canonical };
    }
    case 'json':
      return isJsonValue(value, 0) ? { ok: true, value } : mismatch('a JSON value');
  }
}

/** Converts a canonical wire value to what SQLite stores. */
export function toSqliteValue(type: ColumnType, value: unknown): SqliteValue {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'boolean':
      return value ? 1 : 0;
    case 'json':
      return JSON.stringify(value);
    default:
      return value as SqliteValue;
  }
}

/** Converts what SQLite stored back to the wire value. */
export function fromSqliteValue(type: ColumnType, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'boolean':
      return value === 1 || value === 1n || value === true;
    case 'json':
      return typeof value === 'string' ? (JSON.parse(value) as unknown) : value;
    case 'integer':
      return typeof value === 'bigint' ? Number(value) : value;
    default:
      return value;
  }
}

/** The SQLite column type (affinity) used for a Ferry column type. */
export function sqliteTypeOf(type: ColumnType): 'TEXT' | 'INTEGER' | 'REAL' {
  switch (type) {
    case 'integer':
    case 'boolean':
      return 'INTEGER';
    case 'real':
      return 'REAL';
    default:
      return 'TEXT';
  }
}

function mismatch(expected: string): ColumnValueCheck {
  return { ok: false, code: 'type_mismatch', message: `must be ${expected}` };
}

const MAX_JSON_DEPTH = 64;

function isJsonValue(value: unknown, depth: number): boolean {
  if (depth > MAX_JSON_DEPTH) return false;
  if (value === null) return true;
  switch (typeof value) {
    case 'string':
    case 'boolean':
      return true;
    case 'number':
      return Number.isFinite(value);
    case 'object': {
      if (Array.isArray(value)) return value.every((item) => isJsonValue(item, depth + 1));
      const proto = Object.getPrototypeOf(value) as unknown;
      if (proto !== Object.prototype && proto !== null) return false;
      return Object.values(value).every((item) => isJsonValue(item, depth + 1));
    }
    default:
      return false;
  }
}

import { describe, expect, it } from 'vitest';
import {
  canonicalTimestamp,
  checkColumnValue,
  fromSqliteValue,
  toSqliteValue,
  type ColumnType,
} from './column-types.js';

const rules = (type: ColumnType, notNull = false, maxLength?: number) => ({
  type,
  notNull,
  maxLength,
});

describe('checkColumnValue', () => {
  it.each([
    ['text', 'milk', true],
    ['text', 3, false],
    ['uuid', '6f1c2d3e-0000-4000-8000-000000000001', true],
    ['uuid', '6F1C2D3E-0000-4000-8000-000000000001', false],
    ['uuid', 'not-a-uuid', false],
    ['integer', 42, true],
    ['integer', 4.2, false],
    ['integer', 2 ** 60, false],
    ['real', 4.2, true],
    ['real', Number.NaN, false],
    ['boolean', false, true],
    ['boolean', 0, false],
    ['timestamp', '2026-11-21T10:00:00.000Z', true],
    ['timestamp', '2026-11-21T10:00:00+01:00', false],
    ['timestamp', '2026-02-30T10:00:00Z', false],
    ['json', { a: [1, 'b', null] }, true],
    ['json', new Date(), false],
  ] as [ColumnType, unknown, boolean][])('%s accepts %j: %s', (type, value, ok) => {
    expect(checkColumnValue(rules(type), value).ok).toBe(ok);
  });

  it('rejects null in a not-null column and accepts it elsewhere', () => {
    expect(checkColumnValue(rules('text', true), null)).toMatchObject({
      ok: false,
      code: 'not_null',
    });
    expect(checkColumnValue(rules('text'), undefined)).toEqual({ ok: true, value: null });
  });

  it('counts characters, not UTF-16 units, against maxLength', () => {
    expect(checkColumnValue(rules('text', true, 2), '🚢🚢').ok).toBe(true);
    expect(checkColumnValue(rules('text', true, 2), 'abc')).toMatchObject({
      ok: false,
      code: 'too_long',
    });
  });

  it('canonicalises timestamps to millisecond precision', () => {
    expect(canonicalTimestamp('2026-11-21T10:00:00Z')).toBe('2026-11-21T10:00:00.000Z');
    expect(checkColumnValue(rules('timestamp'), '2026-11-21T10:00:00.123456Z')).toEqual({
      ok: true,
      value: '2026-11-21T10:00:00.123Z',
    });
  });
});

describe('SQLite values', () => {
  it.each([
    ['boolean', true, 1],
    ['boolean', false, 0],
    ['json', { a: 1 }, '{"a":1}'],
    ['integer', 7, 7],
    ['text', null, null],
  ] as [ColumnType, unknown, unknown][])('%s %j round-trips through %j', (type, value, stored) => {
    expect(toSqliteValue(type, value)).toEqual(stored);
    expect(fromSqliteValue(type, stored)).toEqual(value);
  });
});

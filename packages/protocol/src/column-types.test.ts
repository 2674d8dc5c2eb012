import { describe, expect, it } from 'vitest';
import {
  canonicalTimestamp,
  compareTimestamps,
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
    ['timestamp', '2026-11-21T10:00:00+01:00', true],
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

  it.each([
    ['2026-11-21T10:00:00Z', '2026-11-21T10:00:00.000Z'],
    ['2026-11-21T10:00:00.5Z', '2026-11-21T10:00:00.500Z'],
    ['2026-11-21T10:00:00.123456Z', '2026-11-21T10:00:00.123456Z'],
    ['2026-11-21T10:00:00.1234567Z', '2026-11-21T10:00:00.123456700Z'],
    ['2026-11-21T10:00:00.123456789Z', '2026-11-21T10:00:00.123456789Z'],
    ['2026-11-21T10:00:00.123000000Z', '2026-11-21T10:00:00.123Z'],
    ['2026-11-21T10:00:00+00:00', '2026-11-21T10:00:00.000Z'],
    ['2026-11-21T10:00:00-00:00', '2026-11-21T10:00:00.000Z'],
    ['2026-11-21T11:30:00.000001+01:30', '2026-11-21T10:00:00.000001Z'],
    ['2026-11-21t10:00:00z', '2026-11-21T10:00:00.000Z'],
    ['2026-12-31T23:00:00-02:00', '2027-01-01T01:00:00.000Z'],
    ['2024-02-29T12:00:00Z', '2024-02-29T12:00:00.000Z'],
    ['0050-03-01T00:30:00+01:00', '0050-02-28T23:30:00.000Z'],
    ['0000-02-29T00:00:00Z', '0000-02-29T00:00:00.000Z'],
  ])('keeps the precision and time of %s as %s', (given, canonical) => {
    expect(canonicalTimestamp(given)).toBe(canonical);
  });

  it.each([
    '2026-02-30T10:00:00Z',
    '2025-02-29T10:00:00Z',
    '2026-11-21T24:00:00Z',
    '2026-11-21T10:00:60Z',
    '2026-11-21T10:00:00',
    '2026-11-21T10:00:00.1234567890Z',
    '2026-11-21T10:00:00+24:00',
    '2026-11-21 10:00:00Z',
    '0000-01-01T00:30:00+01:00',
  ])('refuses %s', (given) => {
    expect(canonicalTimestamp(given)).toBeUndefined();
    expect(checkColumnValue(rules('timestamp'), given)).toMatchObject({
      ok: false,
      code: 'type_mismatch',
    });
  });

  it('orders timestamps by time, not by their text', () => {
    const a = canonicalTimestamp('2026-11-21T10:00:00.5Z')!;
    const b = canonicalTimestamp('2026-11-21T10:00:00.500001Z')!;
    expect(a > b).toBe(true); // what string order would say
    expect(compareTimestamps(a, b)).toBeLessThan(0);
    expect(compareTimestamps(b, a)).toBeGreaterThan(0);
    expect(compareTimestamps(a, canonicalTimestamp('2026-11-21T11:00:00.500+01:00')!)).toBe(0);
    expect(compareTimestamps('2026-11-21T10:00:01.000Z', b)).toBeGreaterThan(0);
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

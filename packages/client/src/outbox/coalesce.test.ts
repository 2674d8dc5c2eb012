import { describe, expect, it } from 'vitest';
import { coalesce, foldLog, type LogLine, type PendingHead, type PendingOp } from './coalesce.js';

describe('coalesce', () => {
  const table: [PendingOp | undefined, PendingOp, PendingOp | null][] = [
    [undefined, 'I', 'I'],
    [undefined, 'U', 'U'],
    [undefined, 'D', 'D'],
    ['I', 'U', 'I'],
    ['I', 'D', null],
    ['U', 'U', 'U'],
    ['U', 'D', 'D'],
    ['D', 'I', 'U'],
    ['D', 'D', 'D'],
  ];
  it.each(table)('%s followed by %s is %s', (previous, next, expected) => {
    expect(coalesce(previous, next)).toBe(expected);
  });

  it('keeps the delete of an insert entry whose row the server has alive', () => {
    expect(coalesce('I', 'D', true)).toBe('D');
    expect(coalesce('I', 'U', true)).toBe('I');
    expect(coalesce('U', 'D', true)).toBe('D');
  });
});

describe('foldLog', () => {
  const line = (seq: number, op: LogLine['op'], pk?: string, at?: number): LogLine => ({
    seq,
    tbl: op === 'B' ? null : 't',
    pk: op === 'B' ? null : pk,
    op,
    at: at ?? null,
  });

  it('folds an insert, updates and a delete of a new row into nothing to push', () => {
    const result = foldLog(
      [
        line(1, 'B', undefined, 100),
        line(2, 'I', 'x'),
        line(3, 'B', undefined, 200),
        line(4, 'U', 'x'),
        line(5, 'D', 'x'),
      ],
      () => undefined,
      { group: null, at: null },
      999,
    );
    expect([...result.heads.values()]).toEqual([null]);
  });

  it('gives each entry the write groups it spans and the time of its first change', () => {
    const result = foldLog(
      [
        line(1, 'B', undefined, 100),
        line(2, 'I', 'x'),
        line(3, 'I', 'y'),
        line(4, 'B', undefined, 200),
        line(5, 'U', 'x'),
      ],
      () => undefined,
      { group: null, at: null },
      999,
    );
    expect(result.heads.get('t\u0000string\u0000x')).toEqual({
      tbl: 't',
      pk: 'x',
      op: 'I',
      firstGroup: 1,
      lastGroup: 4,
      firstAt: 100,
    });
    expect(result.heads.get('t\u0000string\u0000y')).toMatchObject({ firstGroup: 1, lastGroup: 1 });
    expect(result.cursor).toEqual({ group: 4, at: 200 });
  });

  it('coalesces onto an existing entry and keeps its first group', () => {
    const existing: PendingHead = {
      tbl: 't',
      pk: 'x',
      op: 'U',
      firstGroup: 7,
      lastGroup: 7,
      firstAt: 50,
    };
    const result = foldLog(
      [line(10, 'B', undefined, 300), line(11, 'D', 'x')],
      () => existing,
      {
        group: null,
        at: null,
      },
      999,
    );
    expect(result.heads.get('t\u0000string\u0000x')).toEqual({
      ...existing,
      op: 'D',
      lastGroup: 10,
    });
  });

  it('puts changes captured outside client.write (no marker) into one group stamped now', () => {
    const result = foldLog(
      [line(5, 'I', 'a'), line(6, 'I', 'b')],
      () => undefined,
      { group: null, at: null },
      42,
    );
    expect([...result.heads.values()].map((h) => [h!.firstGroup, h!.firstAt])).toEqual([
      [5, 42],
      [5, 42],
    ]);
  });

  it('re-creates an entry for a row inserted again after its insert was cancelled', () => {
    const result = foldLog(
      [
        line(1, 'B', undefined, 1),
        line(2, 'I', 'x'),
        line(3, 'D', 'x'),
        line(4, 'B', undefined, 2),
        line(5, 'I', 'x'),
      ],
      () => undefined,
      { group: null, at: null },
      0,
    );
    expect(result.heads.get('t\u0000string\u0000x')).toMatchObject({ op: 'I', firstGroup: 4 });
  });
});

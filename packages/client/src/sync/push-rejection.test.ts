import { FerryError } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import { historyLossOf } from './cycle-errors.js';
import { decideRejection } from './push-rejection.js';

const bundle = (n: number) => ({
  changes: Array.from({ length: n }, (_, i) => ({ tbl: 'todos', pk: `row-${i}` })),
});
const refused = (code: FerryError['code'], details?: unknown, status = 400) =>
  new FerryError(code, `refused: ${code}`, { status, details });

describe('decideRejection', () => {
  it('dead-letters the rows a 422 names', () => {
    const errors = [
      { index: 1, table: 'todos', pk: 'row-1', code: 'too_long', message: 'title too long' },
    ];
    expect(decideRejection(refused('validation_failed', { errors }, 422), bundle(3), 0)).toEqual({
      kind: 'dead-letter',
      rejected: errors,
    });
  });

  it('dead-letters the rows a 403 names, with the error as their reason', () => {
    const changes = [{ index: 0, table: 'todos', pk: 'row-0' }];
    expect(decideRejection(refused('forbidden', { changes }, 403), bundle(2), 0)).toEqual({
      kind: 'dead-letter',
      rejected: [{ ...changes[0], code: 'forbidden', message: 'refused: forbidden' }],
    });
  });

  it("dead-letters the rows the server's hooks refused with the hooks' codes and messages", () => {
    const changes = [
      { index: 0, table: 'todos', pk: 'row-0' },
      {
        index: 1,
        table: 'todos',
        pk: 'row-1',
        hook: 'validate',
        hookCode: 'title_profane',
        message: 'mind your language',
      },
    ];
    expect(decideRejection(refused('forbidden', { changes }, 403), bundle(2), 0)).toEqual({
      kind: 'dead-letter',
      rejected: [
        { index: 0, table: 'todos', pk: 'row-0', code: 'forbidden', message: 'refused: forbidden' },
        {
          index: 1,
          table: 'todos',
          pk: 'row-1',
          code: 'title_profane',
          message: 'mind your language',
        },
      ],
    });
  });

  it.each([
    ['a 422 without rows', refused('validation_failed', { errors: [] }, 422)],
    ['a 422 whose details do not parse', refused('validation_failed', { nope: 1 }, 422)],
    ['a 403 without details.changes', refused('forbidden', undefined, 403)],
    ['a bundle_gap without lastCommitted', refused('bundle_gap', {}, 409)],
    ['a 500', refused('internal', undefined, 500)],
    ['an unauthorized', refused('unauthorized', undefined, 401)],
  ])('fails the cycle on %s', (_name, error) => {
    expect(decideRejection(error, bundle(2), 0)).toEqual({ kind: 'fail' });
  });

  it('renumbers after a bundle_gap, twice per cycle at most', () => {
    const gap = refused('bundle_gap', { lastCommitted: 6 }, 409);
    expect(decideRejection(gap, bundle(2), 0)).toEqual({ kind: 'renumber', sourceBundleId: 7 });
    expect(decideRejection(gap, bundle(2), 1)).toEqual({ kind: 'renumber', sourceBundleId: 7 });
    expect(decideRejection(gap, bundle(2), 2)).toEqual({ kind: 'fail' });
  });

  it('halves a bundle that is too large, and dead-letters a single change that is', () => {
    const tooLarge = refused('payload_too_large', undefined, 413);
    expect(decideRejection(tooLarge, bundle(9), 0)).toEqual({ kind: 'shrink', maxChanges: 4 });
    expect(decideRejection(tooLarge, bundle(2), 0)).toEqual({ kind: 'shrink', maxChanges: 1 });
    expect(decideRejection(tooLarge, bundle(1), 0)).toEqual({
      kind: 'dead-letter',
      rejected: [
        {
          index: 0,
          table: 'todos',
          pk: 'row-0',
          code: 'payload_too_large',
          message: 'refused: payload_too_large',
        },
      ],
    });
  });

  it('treats a 413 without a Ferry body (a proxy with a smaller limit) as too large', () => {
    const proxy = refused('bad_response', undefined, 413);
    expect(decideRejection(proxy, bundle(9), 0)).toEqual({ kind: 'shrink', maxChanges: 4 });
    expect(decideRejection(proxy, bundle(1), 0)).toMatchObject({
      kind: 'dead-letter',
      rejected: [{ index: 0, code: 'payload_too_large' }],
    });
  });

  it.each(['history_pruned', 'cursor_unknown'] as const)('hydrates after %s', (code) => {
    expect(decideRejection(refused(code, undefined, 410), bundle(1), 0)).toEqual({
      kind: 'hydrate',
    });
  });

  it('forgets the versions learned above the checkpoint, without a hydration, when the server refused the bases point', () => {
    for (const reason of ['ahead', 'history_diverged']) {
      const error = refused('cursor_unknown', { reason, point: 'bases' }, 410);
      expect(decideRejection(error, bundle(1), 0)).toEqual({ kind: 'forget-bases' });
    }
  });

  it('fails the cycle on a 410 whose body could not be read (no hydration on a guess)', () => {
    expect(decideRejection(refused('bad_response', undefined, 410), bundle(1), 0)).toEqual({
      kind: 'fail',
    });
  });
});

describe('historyLossOf', () => {
  it('reads a prune as the same history and cursor_unknown as a lost one', () => {
    expect(historyLossOf(refused('history_pruned', undefined, 410))).toBe('pruned');
    expect(historyLossOf(refused('cursor_unknown', undefined, 410))).toBe('lost');
    expect(historyLossOf(refused('cursor_unknown', { reason: 'ahead' }, 410))).toBe('lost');
  });

  it('reads a refused bases point as a loss of what answers taught, not of the checkpoint', () => {
    const error = refused('cursor_unknown', { reason: 'history_diverged', point: 'bases' }, 410);
    expect(historyLossOf(error)).toBe('bases');
  });

  it('reads a 410 it cannot understand as nothing said of the history (the request is made again)', () => {
    expect(historyLossOf(refused('bad_response', undefined, 410))).toBeNull();
  });

  it('reads any other refusal as no loss of history', () => {
    expect(historyLossOf(refused('bad_response', undefined, 502))).toBeNull();
    expect(historyLossOf(refused('bundle_gap', undefined, 409))).toBeNull();
  });
});

describe('decideRejection on a shared or stale source id', () => {
  it.each(['bundle_mismatch', 'stale_bundle'] as const)(
    'rotates the source id after %s, whatever the bundle holds',
    (code) => {
      const error = refused(code, { lastCommitted: 4 }, 409);
      expect(decideRejection(error, bundle(3), 0)).toEqual({ kind: 'rotate', reason: code });
      expect(decideRejection(error, bundle(0), 2)).toEqual({ kind: 'rotate', reason: code });
    },
  );
});

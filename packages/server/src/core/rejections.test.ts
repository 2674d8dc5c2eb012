import { describe, expect, it } from 'vitest';
import {
  cursorRejection,
  danglingReferenceRejection,
  forbiddenRejection,
  hookRefusalRejection,
  hookRefusalsOf,
  sourceBundleRejection,
  validationRejection,
} from './rejections.js';

describe('rejections', () => {
  it('tell a gap from a stale id and say where the source stands', () => {
    expect(sourceBundleRejection({ kind: 'bundle_gap', lastCommitted: 3 }, 5)).toEqual({
      kind: 'rejected',
      code: 'bundle_gap',
      message: 'sourceBundleId 5 skips ahead: the last committed one is 3',
      details: { lastCommitted: 3 },
    });
    expect(sourceBundleRejection({ kind: 'stale_bundle', lastCommitted: 3 }, 1).code).toBe(
      'stale_bundle',
    );
  });

  it('tell an install that shares its sourceId with another to rotate, with the last committed id', () => {
    const rejection = sourceBundleRejection({ kind: 'bundle_mismatch', lastCommitted: 2 }, 2);
    expect(rejection).toMatchObject({ code: 'bundle_mismatch', details: { lastCommitted: 2 } });
    expect(rejection.message).toContain('another install seems to share this sourceId');
    expect(rejection.message).toContain('rotate');
  });

  it("answer the server rules' refusals as a 403 naming each change with its hook, code and message", () => {
    const refused = [
      {
        index: 2,
        table: 'todos',
        pk: 't',
        hook: 'authorize' as const,
        hookCode: 'list_archived',
        message: 'the list is archived',
      },
    ];
    expect(hookRefusalRejection(refused)).toEqual({
      kind: 'rejected',
      code: 'forbidden',
      message: "1 change was refused by the server's rules: list_archived: the list is archived",
      details: { changes: refused },
    });
    expect(hookRefusalRejection([...refused, refused[0]!]).message).toMatch(/^2 changes were/);
    expect(hookRefusalsOf(hookRefusalRejection(refused))).toEqual(refused);
    expect(hookRefusalsOf(forbiddenRejection([{ index: 0, table: 'todos', pk: 't' }]))).toEqual([]);
  });

  it('count errors and refused changes in the message and list them in the details', () => {
    const error = { index: 0, table: 't', pk: 'a', code: 'not_null', message: 'm' } as const;
    expect(validationRejection([error]).message).toBe('1 validation error');
    expect(validationRejection([error, error]).details).toEqual({ errors: [error, error] });
    expect(forbiddenRejection([{ index: 2, table: 't', pk: 'x' }])).toMatchObject({
      code: 'forbidden',
      message: '1 change names a row that is not yours',
      details: { changes: [{ index: 2, table: 't', pk: 'x' }] },
    });
  });

  it('send a client whose cursor is unusable to hydrate, saying why a cursor is unknown', () => {
    const pruned = cursorRejection({ kind: 'history_pruned' }, 4);
    expect(pruned.message).toContain('older than the retained history');
    expect(pruned.details).toBeUndefined();
    const ahead = cursorRejection({ kind: 'cursor_unknown', reason: 'ahead' }, 9);
    expect(ahead).toMatchObject({ code: 'cursor_unknown', details: { reason: 'ahead' } });
    expect(ahead.message).toContain('newer than anything');
    const diverged = cursorRejection({ kind: 'cursor_unknown', reason: 'history_diverged' }, 9);
    expect(diverged).toMatchObject({
      code: 'cursor_unknown',
      details: { reason: 'history_diverged' },
    });
    expect(diverged.message).toContain('another history');
    for (const rejection of [pruned, ahead, diverged]) {
      expect(rejection.message).toContain('hydrate from a snapshot');
    }
  });

  it('blame a dangling reference found at commit on the first change', () => {
    const rejection = danglingReferenceRejection([
      { table: 'lists', pk: 'l1', op: 'delete', baseVersion: 2 },
    ]);
    expect(rejection).toMatchObject({
      code: 'validation_failed',
      details: { errors: [{ index: 0, table: 'lists', pk: 'l1', code: 'fk_violation' }] },
    });
  });
});

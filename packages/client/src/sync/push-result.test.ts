import { describe, expect, it } from 'vitest';
import { pushResultOfPush, syncAnswerOf } from './push-result.js';

const conflict = {
  index: 0,
  table: 'lists',
  pk: 'a',
  op: 'upsert',
  baseVersion: 1,
  serverVersion: 2,
  serverDeleted: false,
  serverRow: { id: 'a', name: 'server' },
};
const committed = { sourceBundleId: 4, bundleSeq: 9, rows: [], token: 'a'.repeat(64) };
const page = { bundles: [], stableBundleSeq: 9, hasMore: false };

describe('push results', () => {
  it('reads a committed /v1/push answer and a /v1/sync push result as the same value', () => {
    const fromPush = pushResultOfPush({ kind: 'body', body: committed });
    const fromSync = syncAnswerOf({ push: { status: 'committed', ...committed }, pull: page });
    expect(fromPush).toEqual({ status: 'committed', ...committed });
    expect(fromSync.push).toEqual(fromPush);
  });

  it('reads the conflicts of a /v1/push 409 and of a /v1/sync push result as the same value', () => {
    const fromPush = pushResultOfPush({ kind: 'conflicts', conflicts: [conflict] });
    const fromSync = syncAnswerOf({
      push: { status: 'conflict', conflicts: [conflict] },
      pull: page,
    });
    expect(fromPush).toEqual({ status: 'conflict', conflicts: [conflict] });
    expect(fromSync.push).toEqual(fromPush);
  });

  it('refuses malformed conflicts and a sync answer without a push result as bad_response', () => {
    expect(() => pushResultOfPush({ kind: 'conflicts', conflicts: [{ index: -1 }] })).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    );
    expect(() => syncAnswerOf({ push: null, pull: page })).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    );
    expect(() => pushResultOfPush({ kind: 'body', body: { bundleSeq: 0 } })).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    );
  });

  it('takes a committed sync result’s rows from the page when it says rowsInPull, and refuses one with rows nowhere', () => {
    const rows = [{ table: 'lists', pk: 'a', op: 'delete', rowVersion: 9, row: null }];
    const pulled = {
      ...page,
      bundles: [{ bundleSeq: 9, sourceId: null, sourceBundleId: null, rows }],
    };
    const { rows: _none, ...head } = committed;
    const fromSync = syncAnswerOf({
      push: { status: 'committed', ...head, rowsInPull: true },
      pull: pulled,
    });
    expect(fromSync.push).toEqual({ status: 'committed', ...head, rows });
    expect(() =>
      syncAnswerOf({ push: { status: 'committed', ...head, rowsInPull: true }, pull: page }),
    ).toThrow(expect.objectContaining({ code: 'bad_response' }));
    expect(() => syncAnswerOf({ push: { status: 'committed', ...head }, pull: pulled })).toThrow(
      expect.objectContaining({ code: 'bad_response' }),
    );
  });
});

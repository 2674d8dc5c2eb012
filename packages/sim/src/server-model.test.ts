import { describe, expect, it } from 'vitest';
import { todoSchema, todoV2 } from '@ferry/example-todo';
import type { Change, RowEffect } from '@ferry/protocol';
import { ServerModel, projectRow, type ActualPush, type PushCall } from './server-model.js';

const SOURCE = '6f1c0c1e-1111-4111-8111-111111111111';
const OTHER = '7a2d0c1e-2222-4222-8222-222222222222';
const NOW = Date.UTC(2026, 0, 1);
const AT = { step: 1, now: NOW };
const L1 = 'a0000000-0000-4000-8000-000000000001';
const T1 = 'b0000000-0000-4000-8000-000000000001';
const T2 = 'b0000000-0000-4000-8000-000000000002';

const list = (id: string, name: string, baseVersion: number | null = null): Change => ({
  table: 'lists',
  pk: id,
  op: 'upsert',
  baseVersion,
  row: { id, name, created_at: null },
});
const todo = (id: string, listId: string, baseVersion: number | null = null): Change => ({
  table: 'todos',
  pk: id,
  op: 'upsert',
  baseVersion,
  row: { id, list_id: listId, title: 'x', done: false, position: null },
});
const remove = (table: string, pk: string, baseVersion: number | null): Change => ({
  table,
  pk,
  op: 'delete',
  baseVersion,
});

/** What a correct server answers for a commit the model predicted. */
function committedAnswer(model: ServerModel, call: PushCall, version: number): ActualPush {
  const prediction = model.predictPush(call);
  if (prediction.kind !== 'commit') throw new Error(`expected a commit, got ${prediction.kind}`);
  const rows: RowEffect[] = prediction.effects.map((e) =>
    e.op === 'upsert'
      ? {
          table: e.table,
          pk: e.pk,
          op: 'upsert',
          rowVersion: version,
          row: { ...e.row, updated_at: new Date(NOW).toISOString() },
        }
      : { table: e.table, pk: e.pk, op: 'delete', rowVersion: version, row: null },
  );
  return { kind: 'committed', bundleSeq: prediction.bundleSeq, rows };
}

function commit(model: ServerModel, call: PushCall): void {
  const answer = committedAnswer(model, call, model.lastSeq(call.userId) + 1);
  expect(model.settlePush(call, model.predictPush(call), answer, AT)).toEqual([]);
}

const push = (sourceBundleId: number, changes: Change[], userId = 'alice'): PushCall => ({
  userId,
  sourceId: SOURCE,
  sourceBundleId,
  changes,
});

describe('the server model (oracle)', () => {
  it('commits the next sourceBundleId, answers its resend as a replay, and refuses gaps and stale ids', () => {
    const model = new ServerModel(todoSchema);
    const first = push(1, [list(L1, 'a')]);
    expect(model.predictPush(first)).toMatchObject({ kind: 'commit', bundleSeq: 1 });
    commit(model, first);
    expect(model.predictPush(first)).toMatchObject({ kind: 'replay', bundle: { bundleSeq: 1 } });
    expect(model.predictPush(push(3, []))).toEqual({
      kind: 'rejected',
      code: 'bundle_gap',
      lastCommitted: 1,
    });
    commit(model, push(2, []));
    expect(model.predictPush(push(1, []))).toEqual({
      kind: 'rejected',
      code: 'stale_bundle',
      lastCommitted: 2,
    });
  });

  it('catches a resend that the server commits a second time', () => {
    const model = new ServerModel(todoSchema);
    const first = push(1, [list(L1, 'a')]);
    commit(model, first);
    const again: ActualPush = { kind: 'committed', bundleSeq: 2, rows: [] };
    expect(model.settlePush(first, model.predictPush(first), again, AT).join()).toContain(
      'not exactly-once',
    );
  });

  it.each([
    ['an insert of a row the server has', [list(L1, 'b')]],
    ['an update on a stale version', [list(L1, 'b', 7)]],
    ['an upsert with a version of a row the server never had', [todo(T1, L1, 3)]],
  ])('predicts a conflict for %s', (_name, changes) => {
    const model = new ServerModel(todoSchema);
    commit(model, push(1, [list(L1, 'a')]));
    expect(model.predictPush(push(2, changes)).kind).toBe('conflict');
  });

  it('predicts references that would dangle, rows of another user, and values the schema refuses', () => {
    const model = new ServerModel(todoSchema);
    expect(model.predictPush(push(1, [todo(T1, L1)]))).toMatchObject({
      kind: 'rejected',
      code: 'validation_failed',
      indices: [0],
    });
    expect(model.predictPush(push(1, [list(L1, 'x'.repeat(201))]))).toMatchObject({
      code: 'validation_failed',
    });
    commit(model, push(1, [list(L1, 'a')]));
    const bob = { ...push(1, [list(L1, 'mine now')], 'bob'), sourceId: OTHER };
    expect(model.predictPush(bob)).toEqual({ kind: 'rejected', code: 'forbidden', indices: [0] });
  });

  it('predicts the cascade of a deleted list, and a delete of an unknown row as no effect', () => {
    const model = new ServerModel(todoSchema);
    commit(model, push(1, [list(L1, 'a'), todo(T1, L1), todo(T2, L1)]));
    const prediction = model.predictPush(
      push(2, [remove('lists', L1, 1), remove('todos', L1, null)]),
    );
    expect(prediction.kind).toBe('commit');
    const effects = prediction.kind === 'commit' ? prediction.effects : [];
    expect(effects.map((e) => `${e.op} ${e.table} ${e.pk}`).sort()).toEqual(
      [`delete lists ${L1}`, `delete todos ${T1}`, `delete todos ${T2}`].sort(),
    );
  });

  it('catches a commit whose rows differ from the pushed changes', () => {
    const model = new ServerModel(todoSchema);
    const call = push(1, [list(L1, 'a')]);
    const answer = committedAnswer(model, call, 1);
    const wrong: ActualPush = {
      kind: 'committed',
      bundleSeq: 1,
      rows:
        answer.kind === 'committed'
          ? answer.rows.map((r) => ({ ...r, row: { ...r.row, name: 'b' } }) as RowEffect)
          : [],
    };
    expect(model.settlePush(call, model.predictPush(call), wrong, AT).join()).toContain(
      'committed',
    );
  });

  it('checks pull pages: whole bundles in order, cut at the row limit, with hasMore', () => {
    const model = new ServerModel(todoSchema);
    commit(model, push(1, [list(L1, 'a'), todo(T1, L1)]));
    commit(model, push(2, [todo(T2, L1)]));
    const [one, two] = model.bundles('alice');
    expect(
      model.checkPull('alice', 0, 2, {
        kind: 'page',
        bundles: [one!],
        stableBundleSeq: 2,
        hasMore: true,
      }),
    ).toEqual([]);
    expect(
      model.checkPull('alice', 0, 3, {
        kind: 'page',
        bundles: [one!],
        stableBundleSeq: 2,
        hasMore: true,
      }),
    ).not.toEqual([]);
    expect(
      model.checkPull('alice', 1, 10, {
        kind: 'page',
        bundles: [two!],
        stableBundleSeq: 2,
        hasMore: false,
      }),
    ).toEqual([]);
    expect(
      model.checkPull('alice', 5, 10, {
        kind: 'error',
        status: 410,
        code: 'cursor_unknown',
        details: {},
      }),
    ).toEqual([]);
    expect(model.stateAt('alice', 1).size).toBe(2);
    expect(model.stateAt('alice', 2).size).toBe(3);
  });

  it('follows the server to the next version: kept rows get the added column’s default, and an older client is shown rows without it', () => {
    const model = new ServerModel(todoSchema);
    commit(model, push(1, [list(L1, 'a'), todo(T1, L1)]));
    model.migrate(todoV2);
    expect(model.schema).toBe(todoV2);
    const row = model.row('todos', T1)!.row!;
    expect(row['priority']).toBe(0);
    expect(Object.keys(projectRow(todoSchema, 'todos', row))).not.toContain('priority');
    const { priority: _priority, ...older } = row;
    expect(projectRow(todoSchema, 'todos', row)).toEqual(older);
    expect(projectRow(undefined, 'todos', row)).toBe(row);
    // A list has no new column: unchanged.
    expect(model.row('lists', L1)!.row).not.toHaveProperty('priority');
  });
});

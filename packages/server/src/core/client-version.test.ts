import { describe, expect, it } from 'vitest';
import { todoHistory } from '@ferry/example-todo';
import { changeToLatest, clientProjections, decideClientVersion } from './client-version.js';

describe('the schema version a request runs', () => {
  it('is served within the window, ahead above it, too old below it, and 1 when not said', () => {
    expect(decideClientVersion('3', todoHistory)).toEqual({ kind: 'serve', version: 3 });
    expect(decideClientVersion(null, todoHistory)).toEqual({ kind: 'serve', version: 1 });
    expect(decideClientVersion('6', todoHistory)).toEqual({ kind: 'ahead', version: 6, latest: 5 });
    expect(decideClientVersion('2', todoHistory, 3)).toEqual({
      kind: 'too_old',
      version: 2,
      oldest: 3,
    });
    expect(decideClientVersion(null, todoHistory, 2)).toMatchObject({ kind: 'too_old' });
    for (const raw of ['0', '-1', '1.5', 'v2', '', '99999999999']) {
      expect(decideClientVersion(raw, todoHistory)).toMatchObject({ kind: 'invalid' });
    }
  });

  it('takes a push of an older version into the newest: renamed, dropped columns left out, nothing added', () => {
    const { toLatest } = clientProjections(todoHistory, 1);
    expect(
      changeToLatest(
        {
          table: 'todos',
          pk: 'k',
          op: 'upsert',
          baseVersion: 3,
          row: { id: 'k', title: 'milk', position: 2, done: true },
          columns: ['title', 'position'],
        },
        toLatest,
      ),
    ).toEqual({
      table: 'todos',
      pk: 'k',
      op: 'upsert',
      baseVersion: 3,
      row: { id: 'k', text: 'milk', done: true },
      columns: ['text'],
    });
  });
});

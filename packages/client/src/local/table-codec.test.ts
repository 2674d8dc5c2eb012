import { describe, expect, it } from 'vitest';
import { todoV2 } from '@ferry/example-todo';
import { createTableCodec } from './table-codec.js';

describe('the row a push carries', () => {
  const codec = createTableCodec(todoV2.requireTable('todos'));

  it('leaves out the owner, server-derived columns and the columns the row does not carry', () => {
    // A row kept from before the app's update: no `priority`, which the push must not reset.
    const row = {
      id: 't',
      owner_id: 'alice',
      list_id: 'l',
      title: 'x',
      done: false,
      updated_at: 'now',
    };
    expect(codec.pushRow(row)).toEqual({ id: 't', list_id: 'l', title: 'x', done: false });
  });

  it('keeps a column the row carries as null', () => {
    expect(codec.pushRow({ id: 't', position: null, priority: 3 })).toEqual({
      id: 't',
      position: null,
      priority: 3,
    });
  });
});

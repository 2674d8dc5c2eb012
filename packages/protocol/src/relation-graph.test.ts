import { describe, expect, it } from 'vitest';
import { computeRelationGraph, orderByRelations } from './relation-graph.js';

describe('computeRelationGraph', () => {
  it('puts every parent before its children and keeps declaration order between unrelated tables', () => {
    const graph = computeRelationGraph(
      ['comments', 'tags', 'posts', 'users'],
      [
        { childTable: 'comments', column: 'post_id', parentTable: 'posts' },
        { childTable: 'comments', column: 'author_id', parentTable: 'users' },
        { childTable: 'posts', column: 'author_id', parentTable: 'users' },
      ],
    );
    expect(graph.tableOrder).toEqual(['tags', 'users', 'posts', 'comments']);
    expect(graph.deleteOrder).toEqual(['comments', 'posts', 'users', 'tags']);
    expect(graph.cycles).toEqual([]);
    expect(graph.childrenOf('users')).toEqual(['comments', 'posts']);
    expect(graph.parentsOf('comments')).toEqual(['posts', 'users']);
  });

  it('places a cycle as a block after its outside parents', () => {
    const graph = computeRelationGraph(
      ['b', 'a', 'root'],
      [
        { childTable: 'a', column: 'b_id', parentTable: 'b' },
        { childTable: 'b', column: 'a_id', parentTable: 'a' },
        { childTable: 'a', column: 'root_id', parentTable: 'root' },
      ],
    );
    expect(graph.tableOrder).toEqual(['root', 'b', 'a']);
    expect(graph.cycles).toEqual([['b', 'a']]);
    expect(graph.cyclicReferences).toHaveLength(2);
  });
});

describe('orderByRelations', () => {
  it('orders upserts parents first, then deletes children first, stably', () => {
    const graph = computeRelationGraph(
      ['todos', 'lists'],
      [{ childTable: 'todos', column: 'list_id', parentTable: 'lists' }],
    );
    const changes = [
      { table: 'todos', op: 'delete', id: 1 },
      { table: 'todos', op: 'upsert', id: 2 },
      { table: 'lists', op: 'delete', id: 3 },
      { table: 'lists', op: 'upsert', id: 4 },
      { table: 'todos', op: 'upsert', id: 5 },
      { table: 'todos', op: 'delete', id: 6 },
    ] as const;
    expect(orderByRelations(graph, changes).map((c) => c.id)).toEqual([4, 2, 5, 1, 6, 3]);
  });
});

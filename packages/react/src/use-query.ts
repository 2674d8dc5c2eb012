/**
 * `useQuery`: a live query as component state, without suspense.
 *
 * @module
 */
import { useEffect, useState } from 'react';
import type { FerryError } from '@ferry/protocol';
import type { SqlRow, SqlValue } from '@ferry/client';
import { useFerryClient } from './ferry-context.js';

/** What {@link useQuery} returns. */
export interface QueryState<R> {
  /** The rows of the last result (empty while loading the first). */
  readonly rows: R[];
  /** True until the first result arrived (again after `sql` or `params` changed). */
  readonly loading: boolean;
  /** The error of the last run, cleared by the next result. */
  readonly error: FerryError | null;
}

interface Tagged<R> extends QueryState<R> {
  /** Which query this state belongs to (`sql` and `params`), so a stale one is not shown. */
  readonly key: string;
}

/**
 * The rows of `sql`, kept current by `client.watch`: the component re-renders when a local
 * write in any tab, a pull, a hydration or a conflict's resolution changes them, and not when
 * they stay the same.
 *
 * @example
 * const { rows, loading, error } = useQuery<Todo>(
 *   'SELECT * FROM todos WHERE list_id = ? ORDER BY position', [listId]);
 */
export function useQuery<R extends SqlRow = SqlRow>(
  sql: string,
  params: readonly SqlValue[] = [],
): QueryState<R> {
  const client = useFerryClient();
  const key = JSON.stringify([sql, params.map(keyOf)]);
  const [state, setState] = useState<Tagged<R>>({ key, rows: [], loading: true, error: null });
  useEffect(() => {
    const stop = client.watch<R>(
      sql,
      params,
      (rows) => setState({ key, rows, loading: false, error: null }),
      { onError: (error) => setState((last) => ({ ...last, key, loading: false, error })) },
    );
    return stop;
    // `key` stands for `sql` and `params`: a new array of the same values is the same query.
  }, [client, key]);
  if (state.key !== key) return { rows: [], loading: true, error: null };
  return state;
}

function keyOf(value: SqlValue): unknown {
  if (typeof value === 'bigint') return `${value}n`;
  if (value instanceof Uint8Array) return [...value];
  return value;
}

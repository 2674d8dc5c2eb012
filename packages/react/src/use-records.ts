/**
 * `useConflicts` and `useDeadLetters`: the records an app must show (nothing is dropped
 * silently), re-read whenever the status says their count changed, with their actions.
 *
 * @module
 */
import { useCallback, useEffect, useState } from 'react';
import type { FerryError } from '@ferry/protocol';
import type { ConflictChoice, DeadLetter, FerryClient, ManualConflict } from '@ferry/client';
import { useFerryClient } from './ferry-context.js';

/** A list of records and how it loads. */
export interface RecordsState<T> {
  readonly items: readonly T[];
  readonly loading: boolean;
  readonly error: FerryError | null;
}

/**
 * Keeps `read(client)` current: read at mount and after each status whose `count` differs
 * from the last one read, or after a write (a resolution, a retry).
 */
function useRecords<T>(
  read: (client: FerryClient) => Promise<T[]>,
  count: (client: FerryClient) => number,
): RecordsState<T> & { readonly reload: () => void } {
  const client = useFerryClient();
  const [state, setState] = useState<RecordsState<T>>({ items: [], loading: true, error: null });
  const [generation, setGeneration] = useState(0);
  const reload = useCallback(() => setGeneration((g) => g + 1), []);
  useEffect(() => {
    let live = true;
    read(client).then(
      (items) => live && setState({ items, loading: false, error: null }),
      (error: FerryError) => live && setState((last) => ({ ...last, loading: false, error })),
    );
    return () => {
      live = false;
    };
  }, [client, read, generation]);
  useEffect(() => {
    let seen = count(client);
    return client.subscribe((event) => {
      if (event.type === 'status' && count(client) !== seen) {
        seen = count(client);
        reload();
      }
    });
  }, [client, count, reload]);
  return { ...state, reload };
}

const readConflicts = (client: FerryClient) => client.conflicts();
const conflictCount = (client: FerryClient) => client.status.conflicts;
const readDeadLetters = (client: FerryClient) => client.deadLetters();
const deadLetterCount = (client: FerryClient) => client.status.deadLetters;

/** Manual conflicts waiting for the app, and their resolution. */
export function useConflicts(): RecordsState<ManualConflict> & {
  readonly resolve: (id: number, choice: ConflictChoice) => Promise<void>;
} {
  const client = useFerryClient();
  const records = useRecords(readConflicts, conflictCount);
  const { reload } = records;
  const resolve = useCallback(
    async (id: number, choice: ConflictChoice) => {
      await client.resolveConflict(id, choice);
      reload();
    },
    [client, reload],
  );
  return { items: records.items, loading: records.loading, error: records.error, resolve };
}

/** Changes the server refused for good, with retry and discard. */
export function useDeadLetters(): RecordsState<DeadLetter> & {
  readonly retry: (id: number) => Promise<void>;
  readonly discard: (id: number) => Promise<void>;
} {
  const client = useFerryClient();
  const records = useRecords(readDeadLetters, deadLetterCount);
  const { reload } = records;
  const retry = useCallback(
    async (id: number) => {
      await client.retryDeadLetter(id);
      reload();
    },
    [client, reload],
  );
  const discard = useCallback(
    async (id: number) => {
      await client.discardDeadLetter(id);
      reload();
    },
    [client, reload],
  );
  return { items: records.items, loading: records.loading, error: records.error, retry, discard };
}

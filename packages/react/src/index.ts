/**
 * `@ferry/react`: React bindings of the Ferry client. Put a client in a `<FerryProvider>`, then
 * read with hooks: `useQuery` (a live query), `useSyncStatus`, `usePendingCount`,
 * `useConflicts`, `useDeadLetters`. No global state: each provider has its own client.
 *
 * @example
 * function Todos({ listId }: { listId: string }) {
 *   const { rows } = useQuery<{ id: string; title: string }>(
 *     'SELECT id, title FROM todos WHERE list_id = ?', [listId]);
 *   return <ul>{rows.map((t) => <li key={t.id}>{t.title}</li>)}</ul>;
 * }
 *
 * @module
 */
export { FerryProvider, useFerryClient } from './ferry-context.js';
export type { FerryContextValue, FerryProviderProps } from './ferry-context.js';
export { useQuery } from './use-query.js';
export type { QueryState } from './use-query.js';
export { usePendingCount, useSyncStatus } from './use-sync-status.js';
export type { SyncStatusView } from './use-sync-status.js';
export { useConflicts, useDeadLetters } from './use-records.js';
export type { RecordsState } from './use-records.js';

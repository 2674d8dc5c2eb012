/**
 * A Ferry client running in a Chromium page (the engine on the page, its database wa-sqlite in
 * a worker), driven from a test in Node through `window.ferryTest`.
 */
import type { Page } from 'playwright-core';
import type { FerryTest } from '../page/page-entry.js';
import { tag } from '../page/values.js';
import { answerOf } from './page-answer.js';

type Window = { ferryTest: FerryTest };

/** A write as the page client takes it. */
export type PageWrite =
  | { readonly op: 'insert'; readonly table: string; readonly row: Record<string, unknown> }
  | {
      readonly op: 'update';
      readonly table: string;
      readonly pk: string;
      readonly patch: Record<string, unknown>;
    }
  | { readonly op: 'delete'; readonly table: string; readonly pk: string };

/** What the page reports of `client.status` (its `lastError` reduced to the code). */
export interface PageStatus {
  readonly pending: number;
  readonly storage: string;
  readonly lastError: string | null;
  readonly checkpoint: number | null;
  readonly inFlight: unknown;
}

export interface PageClient {
  write(ops: readonly PageWrite[]): Promise<void>;
  query<R = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<R[]>;
  sync(): Promise<{ pushed: number; pulled: number }>;
  status(): Promise<PageStatus>;
  /** A sync while a 10 ms timer runs on the page's thread: how often it fired, its longest gap. */
  syncWatched(): Promise<{
    pulled: number;
    hydrated: boolean;
    ticks: number;
    longestGapMs: number;
    durationMs: number;
  }>;
  /** The tab's role in its group (null without `tabs`). */
  role(): Promise<'leader' | 'follower' | null>;
  /** Starts a live query; `results(id)` reads what it delivered so far. */
  watch(sql: string): Promise<number>;
  results<R = Record<string, unknown>>(watch: number): Promise<R[][]>;
  /** When each result of a watch came (epoch ms, comparable across tabs). */
  deliveredAt(watch: number): Promise<number[]>;
  /** Inserts in one write; resolves with when the write began (epoch ms). */
  writeTimed(ops: readonly PageWrite[]): Promise<number>;
  /** `count` one-row writes, each timed (µs). */
  writeLatency(count: number, listId: string): Promise<number[]>;
  /** `count` todos in writes of 500. */
  writeMany(count: number, listId: string): Promise<void>;
  /** On the projects schema: a project under a temporary key with two tasks; its key. */
  insertTree(name: string): Promise<number>;
  resolveKey(table: string, key: number | string): Promise<number | string>;
  close(): Promise<void>;
}

/** Starts a client of the todo schema in `page` on database `name`. */
export async function startPageClient(
  page: Page,
  options: {
    name: string;
    url: string;
    token: string;
    storage?: 'auto' | 'opfs' | 'indexeddb';
    tabs?: boolean;
    schema?: 'todo' | 'projects';
  },
): Promise<PageClient> {
  const started = await page.evaluate(
    (o) => (window as unknown as Window).ferryTest.startClient(o),
    options,
  );
  const id = answerOf(started) as number;
  const call = async (request: Record<string, unknown>) =>
    answerOf(
      await page.evaluate(([i, r]) => (window as unknown as Window).ferryTest.client(i, r), [
        id,
        JSON.stringify(request),
      ] as const),
    );
  return {
    write: async (ops) => void (await call({ call: 'write', ops })),
    query: async <R>(sql: string, params: readonly unknown[] = []) =>
      (await call({ call: 'query', sql, params: params.map(tag) })) as R[],
    sync: async () => (await call({ call: 'sync' })) as { pushed: number; pulled: number },
    status: async () => (await call({ call: 'status' })) as PageStatus,
    syncWatched: async () =>
      (await call({ call: 'syncWatched' })) as Awaited<ReturnType<PageClient['syncWatched']>>,
    role: async () => (await call({ call: 'role' })) as 'leader' | 'follower' | null,
    watch: async (sql) => (await call({ call: 'watch', sql })) as number,
    results: async <R>(watch: number) => (await call({ call: 'results', watch })) as R[][],
    deliveredAt: async (watch) => (await call({ call: 'deliveredAt', watch })) as number[],
    writeTimed: async (ops) => (await call({ call: 'writeTimed', ops })) as number,
    writeLatency: async (count, listId) =>
      (await call({ call: 'writeLatency', count, listId })) as number[],
    writeMany: async (count, listId) => void (await call({ call: 'writeMany', count, listId })),
    insertTree: async (name) => (await call({ call: 'insertTree', name })) as number,
    resolveKey: async (table, key) =>
      (await call({ call: 'resolveKey', table, key })) as number | string,
    close: async () => void (await call({ call: 'close' })),
  };
}

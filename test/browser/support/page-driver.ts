/**
 * A {@link SqliteDriver} in Node whose every call runs on a driver inside a Chromium page
 * (`window.ferryTest`, see ../page/page-entry.ts), so the driver conformance suite runs as is
 * against wa-sqlite in a real browser worker.
 */
import type { Page } from 'playwright-core';
import type { SqliteDriver } from '@ferry/client';
import type { FerryTest } from '../page/page-entry.js';
import { tag } from '../page/values.js';
import { answerOf } from './page-answer.js';

type Window = { ferryTest: FerryTest };

/** Opens database `name` in a new worker of `page`. */
export async function openPageDriver(
  page: Page,
  name: string,
  storage: 'auto' | 'opfs' | 'indexeddb' = 'auto',
): Promise<SqliteDriver & { readonly storage: string }> {
  const opened = await page.evaluate(
    ([n, s]) => (window as unknown as Window).ferryTest.open(n, s),
    [name, storage] as const,
  );
  const { id, storage: kept } = answerOf(opened) as { id: number; storage: string };
  const call = async (op: 'run' | 'all' | 'exec' | 'batch' | 'close', args: unknown[]) => {
    const answer = await page.evaluate(
      ([i, o, a]) => (window as unknown as Window).ferryTest.call(i, o, a),
      [id, op, JSON.stringify(args.map(tag))] as const,
    );
    return answerOf(answer);
  };
  return {
    storage: kept,
    run: async (sql, params = []) => (await call('run', [sql, params])) as { changes: number },
    all: async <R>(sql: string, params: readonly unknown[] = []) =>
      (await call('all', [sql, params])) as R[],
    exec: async (sql) => void (await call('exec', [sql])),
    batch: async (statements) => (await call('batch', [statements])) as { changes: number }[],
    close: async () => void (await call('close', [])),
  };
}

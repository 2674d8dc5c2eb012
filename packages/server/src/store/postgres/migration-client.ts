/**
 * The connection that migrations and adoption run on, and how they run a transaction and wait
 * for locks without queueing other writers behind them.
 */

/** The part of a pg client that migrations need. */
export interface MigrationClient {
  query(sql: string, params?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** How long a migration waits for the locks of a version before it lets go and tries again. */
export const LOCK_TIMEOUT_MS = 250;
/** Lock timeouts (55P03), deadlocks (40P01) and serialization failures (40001). */
const LOCK_WAIT_CODES = new Set(['55P03', '40P01', '40001']);

/**
 * Runs `fn` again while it fails for its locks, up to 200 times with a growing pause (about a
 * minute in all): under a steady stream of pushes it gets its locks between two of them.
 */
export async function retryingLockWaits<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const code = (error as { code?: unknown } | null)?.code;
      if (typeof code !== 'string' || !LOCK_WAIT_CODES.has(code) || attempt >= 200) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(500, attempt * 10)));
    }
  }
}

/** Runs `fn` in a transaction of `client`: committed when it returns, rolled back if it throws. */
export async function inTransaction<T>(client: MigrationClient, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Takes the session advisory lock of `key` (`hashtextextended(key, 0)`), asking again every so
 * often rather than waiting inside one statement: a backend waiting in a statement holds a
 * snapshot, and CREATE INDEX CONCURRENTLY (run by an adoption under this lock) waits for every
 * older snapshot, so a blocking wait would deadlock with it.
 */
export async function takeAdvisoryLock(client: MigrationClient, key: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const { rows } = await client.query(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS taken',
      [key],
    );
    if (rows[0]?.taken === true) return;
    await new Promise((resolve) => setTimeout(resolve, Math.min(250, attempt * 10)));
  }
}

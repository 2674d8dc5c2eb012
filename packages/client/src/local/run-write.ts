import type { Schema } from '@ferry/protocol';
import type { ClientCore } from '../client-core.js';
import type { RunResult, SqlStatement, SqlValue } from '../driver/sqlite-driver.js';
import { WriteRecorder, type WriteTransaction } from '../write-transaction.js';

/** The `B` marker that starts a write in the capture log: it groups the write's changes. */
function writeMarker(now: number): SqlStatement {
  return { sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)", params: [now] };
}

/**
 * Runs `client.write(fn)`: one local transaction, its changes captured by the triggers after a
 * `B` marker. When `fn` only records inserts, updates and deletes and no hook is set, the whole
 * transaction goes to the driver in one call (the fast path); a read inside `fn` opens the
 * transaction at once, and hooks run at `after-outbox-write` (before the commit) and
 * `after-local-commit`. A callback that throws rolls everything back.
 */
export async function runWrite<S extends Schema, T>(
  core: ClientCore,
  fn: (tx: WriteTransaction<S>) => T | Promise<T>,
): Promise<Awaited<T>> {
  const { db, ctx } = core;
  const recorder = new WriteRecorder<S>(
    ctx.codecs,
    () => core.userId,
    writeMarker(ctx.now()),
    () => db.begin(),
  );
  let result: Awaited<T>;
  try {
    result = await fn(recorder);
  } catch (error) {
    recorder.finish();
    await recorder.opened?.rollback();
    throw error;
  }
  const hooked = core.settings.hooked;
  if (recorder.opened === null && !hooked) {
    recorder.finish();
    await db.batch(recorder.statements);
  } else {
    const tx = recorder.opened ?? (await db.begin());
    try {
      for (const statement of recorder.statements.splice(0)) {
        await tx.run(statement.sql, statement.params);
      }
      recorder.finish();
      await ctx.hook('after-outbox-write');
    } catch (error) {
      recorder.finish();
      await tx.rollback();
      throw error;
    }
    await tx.commit();
  }
  if (hooked) await ctx.hook('after-local-commit');
  return result;
}

/** Runs `client.execute(sql)`: the statement in its own transaction, after a `B` marker. */
export async function runExecute(
  core: ClientCore,
  sql: string,
  params?: readonly SqlValue[],
): Promise<RunResult> {
  const [, result] = await core.db.batch([
    writeMarker(core.ctx.now()),
    { sql, params: params ?? [] },
  ]);
  return result!;
}

import type { Schema } from '@ferry/protocol';
import type { EngineSettings, LocalParts } from '../engine-context.js';
import type { FileUser } from './file-user.js';
import type { RunResult, SqlStatement, SqlValue } from '../driver/sqlite-driver.js';
import { WriteRecorder, type WriteTransaction } from '../write-transaction.js';

/** The `B` marker that starts a write in the capture log: it groups the write's changes. */
function writeMarker(now: number): SqlStatement {
  return { sql: "INSERT INTO ferry_log (op, at) VALUES ('B', ?)", params: [now] };
}

/** What a local write touched: tables it named, and statements of its own SQL. */
export interface WriteTouched {
  readonly tables: ReadonlySet<string>;
  /** Those it deleted from. */
  readonly deletedFrom: ReadonlySet<string>;
  readonly executed: readonly SqlStatement[];
}

/**
 * Runs `client.write(fn)`: one local transaction, its changes captured by the triggers after a
 * `B` marker. When `fn` only records inserts, updates and deletes and no hook is set, the whole
 * transaction goes to the driver in one call (the fast path); a read inside `fn` opens the
 * transaction at once, and hooks run at `after-outbox-write` (before the commit) and
 * `after-local-commit`. A callback that throws rolls everything back.
 */
export async function runWrite<S extends Schema, T>(
  parts: LocalParts & {
    readonly user: Pick<FileUser, 'id'>;
    readonly settings: Pick<EngineSettings, 'hooked'>;
  },
  fn: (tx: WriteTransaction<S>) => T | Promise<T>,
): Promise<{ readonly value: Awaited<T>; readonly touched: WriteTouched }> {
  const { db, ctx } = parts;
  const recorder = new WriteRecorder<S>(
    ctx.codecs,
    () => parts.user.id,
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
  const hooked = parts.settings.hooked;
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
  return {
    value: result,
    touched: {
      tables: recorder.tables,
      deletedFrom: recorder.deletedFrom,
      executed: recorder.executed,
    },
  };
}

/** Runs `client.execute(sql)`: the statement in its own transaction, after a `B` marker. */
export async function runExecute(
  parts: LocalParts,
  sql: string,
  params?: readonly SqlValue[],
): Promise<RunResult> {
  const [, result] = await parts.db.batch([
    writeMarker(parts.ctx.now()),
    { sql, params: params ?? [] },
  ]);
  return result!;
}

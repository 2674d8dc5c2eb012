/**
 * A {@link SqliteDriver} in another thread: the engine's side (`remoteDriver`) sends each call as
 * a message and resolves it with the answer; the database's side (`serveDriver`) runs the calls
 * on a driver of its own, one after another, in arrival order. The database then never runs on
 * the engine's thread, so a long statement (a large transaction's COMMIT, say) never blocks it.
 * The transport is anything with `postMessage` and a message listener: a Node `worker_threads`
 * port, a browser `Worker` or `MessagePort`.
 *
 * Calls keep the driver contract of `sqlite-driver.ts` through the message boundary: the
 * database's side answers in the order the calls came, so `BEGIN` … `COMMIT` sent through `run`
 * span what was sent between them; an error comes back with its name, message and `code` (a
 * `FerryError` as a `FerryError`, a SQLite error with its `SQLITE_…` code).
 *
 * @module
 */
import {
  FerryError,
  LOCAL_ERROR_CODES,
  PROTOCOL_ERROR_CODES,
  type FerryErrorCode,
} from '@ferry/protocol';
import type { RunResult, SqlRow, SqlStatement, SqlValue, SqliteDriver } from './sqlite-driver.js';

/** A call of the driver, as sent. */
export type DriverCall =
  | {
      readonly id: number;
      readonly op: 'run' | 'all';
      readonly sql: string;
      readonly params: readonly SqlValue[];
    }
  | { readonly id: number; readonly op: 'exec'; readonly sql: string }
  | { readonly id: number; readonly op: 'batch'; readonly statements: readonly SqlStatement[] }
  | { readonly id: number; readonly op: 'close' };

/** The answer to a call. */
export type DriverAnswer =
  | { readonly id: number; readonly ok: true; readonly value: unknown }
  | { readonly id: number; readonly ok: false; readonly error: SentError };

/** An error as it crosses the boundary. */
export interface SentError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
}

/** One end of the message channel. */
export interface MessageEnd<Out, In> {
  postMessage(message: Out): void;
  /** Adds the listener of incoming messages. */
  listen(listener: (message: In) => void): void;
}

/** Options of {@link remoteDriver}. */
export interface RemoteDriverOptions {
  /** Runs once the other side answered `close` (to end its thread, say). */
  readonly onClosed?: () => Promise<void> | void;
  /**
   * Told when calls start waiting (true) and when none waits any more (false): a Node worker is
   * kept referenced only while the engine waits on it, so an idle client never holds the
   * process open and a waiting one is never cut short.
   */
  readonly onBusy?: (busy: boolean) => void;
}

/**
 * The engine's side: a driver whose every call is answered by a {@link serveDriver} at the other
 * end. Once the other side failed (`failAll`: its thread died), every call waiting or made
 * later rejects with `store_unavailable`.
 */
export function remoteDriver(
  end: MessageEnd<DriverCall, DriverAnswer>,
  options: RemoteDriverOptions = {},
): SqliteDriver & { failAll(error: Error): void } {
  const { onClosed = () => undefined, onBusy = () => undefined } = options;
  const waiting = new Map<number, { resolve(value: unknown): void; reject(error: Error): void }>();
  let next = 1;
  let closing: Promise<void> | undefined;
  let failed: Error | undefined;
  end.listen((answer) => {
    const call = waiting.get(answer.id);
    if (!call) return;
    waiting.delete(answer.id);
    if (waiting.size === 0) onBusy(false);
    if (answer.ok) call.resolve(answer.value);
    else call.reject(receivedError(answer.error));
  });
  const send = <T>(call: DistributiveOmit<DriverCall, 'id'>): Promise<T> => {
    if (closing && call.op !== 'close') {
      return Promise.reject(new FerryError('closed', 'the SQLite driver is closed'));
    }
    if (failed) return Promise.reject(failed);
    const id = next++;
    return new Promise<T>((resolve, reject) => {
      if (waiting.size === 0) onBusy(true);
      waiting.set(id, { resolve, reject });
      end.postMessage({ ...call, id });
    });
  };
  return {
    run: (sql, params = []) => send<RunResult>({ op: 'run', sql, params }),
    all: <R extends SqlRow = SqlRow>(sql: string, params: readonly SqlValue[] = []) =>
      send<R[]>({ op: 'all', sql, params }),
    exec: (sql) => send<void>({ op: 'exec', sql }),
    batch: (statements) => send<RunResult[]>({ op: 'batch', statements }),
    close: () =>
      (closing ??= failed
        ? Promise.resolve(onClosed()).then(() => undefined)
        : send<void>({ op: 'close' }).then(
            () => onClosed(),
            async (error: unknown) => {
              await onClosed();
              throw error;
            },
          )),
    failAll(error) {
      failed ??= new FerryError(
        'store_unavailable',
        `the database thread failed: ${error.message}`,
        {
          cause: error,
        },
      );
      for (const call of waiting.values()) call.reject(failed);
      if (waiting.size > 0) onBusy(false);
      waiting.clear();
    },
  };
}

/**
 * The database's side: runs each call that arrives on `driver`, one at a time in arrival order,
 * and answers it.
 */
export function serveDriver(end: MessageEnd<DriverAnswer, DriverCall>, driver: SqliteDriver): void {
  let queue: Promise<void> = Promise.resolve();
  end.listen((call) => {
    queue = queue.then(async () => {
      try {
        end.postMessage({ id: call.id, ok: true, value: await perform(driver, call) });
      } catch (error) {
        end.postMessage({ id: call.id, ok: false, error: sentError(error) });
      }
    });
  });
}

function perform(driver: SqliteDriver, call: DriverCall): Promise<unknown> {
  switch (call.op) {
    case 'run':
      return driver.run(call.sql, call.params);
    case 'all':
      return driver.all(call.sql, call.params);
    case 'exec':
      return driver.exec(call.sql);
    case 'batch':
      return driver.batch(call.statements);
    case 'close':
      return driver.close();
  }
}

/** An error as it is sent across. */
export function sentError(error: unknown): SentError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return {
      name: error instanceof FerryError ? 'FerryError' : error.name,
      message: error.message,
      ...(typeof code === 'string' ? { code } : {}),
    };
  }
  return { name: 'Error', message: String(error) };
}

/** A sent error, rebuilt: a `FerryError` as one, any other with its name and `code`. */
export function receivedError(sent: SentError): Error {
  if (sent.name === 'FerryError' && sent.code !== undefined && isFerryErrorCode(sent.code)) {
    return new FerryError(sent.code, sent.message);
  }
  const error = new Error(sent.message) as Error & { code?: string };
  error.name = sent.name;
  if (sent.code !== undefined) error.code = sent.code;
  return error;
}

const FERRY_CODES: ReadonlySet<string> = new Set([...LOCAL_ERROR_CODES, ...PROTOCOL_ERROR_CODES]);

function isFerryErrorCode(code: string): code is FerryErrorCode {
  return FERRY_CODES.has(code);
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/**
 * What the app observes of a client: one merged status, events, structured log entries and the
 * errors of background work. The engine reports through it; nothing the app hands in (a
 * listener, `onLog`, `onError`) can throw back into the engine.
 *
 * @module
 */
import { FerryError } from '@ferry/protocol';
import type { LogEntry, LogLevel } from '../scheduler/log-entry.js';
import type { SyncStatus } from '../scheduler/sync-status.js';
import type { ClientStatus, SettledConflict } from '../types.js';
import { mergeClientStatus, type EngineStatus } from './client-status.js';

/**
 * Something that happened in the client:
 * - `status`: the status changed;
 * - `write`: a local write committed through this client (`write`, `execute`, a conflict's
 *   resolution), with the tables it can have changed; writes made by other connections to the
 *   file are not seen (the next cycle still pushes them);
 * - `remote-change`: server data was written to the local tables (pulled bundles, a snapshot,
 *   our own bundle's authoritative rows): re-run the queries that show them;
 * - `settled-conflicts`: conflict policies replaced values (this device's or the server's);
 *   the entries just journaled (see `client.settledConflicts()`).
 */
export type ClientEvent =
  | { readonly type: 'status'; readonly status: ClientStatus }
  | {
      readonly type: 'write';
      /** The tables the write can have changed (its cascades included). */
      readonly tables: readonly string[];
    }
  | { readonly type: 'settled-conflicts'; readonly entries: readonly SettledConflict[] }
  | {
      readonly type: 'remote-change';
      /** The tables that changed. */
      readonly tables: readonly string[];
      /** Row effects applied. */
      readonly rows: number;
      /** The checkpoint after the change. */
      readonly checkpoint: number;
    };

/** Options of {@link ClientObserver}. */
export interface ClientObserverOptions {
  /** Whether the events stream runs (else `status.realtime` is `off`). */
  readonly realtime: boolean;
  readonly onError?: ((error: FerryError) => void) | undefined;
  readonly onLog?: ((entry: LogEntry) => void) | undefined;
}

/**
 * Holds the engine's status and the scheduler's, publishes their merge as one status event on
 * every change, and hands log entries and background errors to the app's callbacks.
 *
 * Invariants:
 * 1. `status` is always `mergeClientStatus(engine, scheduler status, realtime)` of the latest
 *    values, and every change of it is emitted as a `status` event.
 * 2. A listener, `onLog` or `onError` that throws never reaches the caller: a listener's or
 *    `onLog`'s error goes to `onError` as `internal`; an `onError` error is swallowed.
 */
export class ClientObserver {
  readonly #options: ClientObserverOptions;
  readonly #listeners = new Set<(event: ClientEvent) => void>();
  #engine: EngineStatus;
  #sync: SyncStatus | null = null;
  #realtime: boolean;
  #status: ClientStatus;

  constructor(initial: EngineStatus, options: ClientObserverOptions) {
    this.#options = options;
    this.#engine = initial;
    this.#realtime = options.realtime;
    this.#status = mergeClientStatus(initial, null, options.realtime);
  }

  /** The merged status last published. */
  get status(): ClientStatus {
    return this.#status;
  }

  /** The engine's own part of the status. */
  get engine(): EngineStatus {
    return this.#engine;
  }

  /** Patches the engine's status and publishes the merged one. */
  setStatus(patch: Partial<EngineStatus>): void {
    this.#engine = { ...this.#engine, ...patch };
    this.#publish();
  }

  /** The scheduler's status changed. */
  setSchedulerStatus(status: SyncStatus): void {
    this.#sync = status;
    this.#publish();
  }

  /**
   * The scheduler started (with or without the events stream) or stopped (`null`): background
   * sync was connected or disconnected.
   */
  setScheduler(scheduler: { readonly realtime: boolean } | null): void {
    this.#realtime = scheduler?.realtime ?? false;
    if (scheduler === null) this.#sync = null;
    this.#publish();
  }

  /** Adds a listener; returns the unsubscribe function. */
  subscribe(listener: (event: ClientEvent) => void): () => void {
    if (typeof listener !== 'function') {
      throw new FerryError('invalid_argument', 'subscribe takes a listener function');
    }
    // Each subscription is its own, even for the same function twice.
    const own = (event: ClientEvent) => listener(event);
    this.#listeners.add(own);
    return () => {
      this.#listeners.delete(own);
    };
  }

  /** Drops every listener (the client closed). */
  unsubscribeAll(): void {
    this.#listeners.clear();
  }

  emit(event: ClientEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        // A listener's failure is its own; it must not break sync, but it is not hidden.
        this.reportError(
          new FerryError('internal', `a client listener threw: ${String(error)}`, {
            cause: error,
          }),
        );
      }
    }
  }

  log(level: LogLevel, event: string, message: string, fields: LogEntry['fields']): void {
    const onLog = this.#options.onLog;
    if (onLog === undefined) return;
    try {
      onLog({ level, event, message, fields });
    } catch (error) {
      this.reportError(
        new FerryError('internal', `onLog threw: ${String(error)}`, { cause: error }),
      );
    }
  }

  /** Hands an error of background work to the app's `onError`, which must not throw into us. */
  reportError(error: FerryError): void {
    try {
      this.#options.onError?.(error);
    } catch {
      // The app's callback must not change the outcome of the cycle.
    }
  }

  #publish(): void {
    this.#status = mergeClientStatus(this.#engine, this.#sync, this.#realtime);
    this.emit({ type: 'status', status: this.#status });
  }
}

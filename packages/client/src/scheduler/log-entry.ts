/**
 * The structured log entry handed to `onLog` hooks of the scheduler and the realtime client.
 *
 * @module
 */

/** Severity of a {@link LogEntry}. */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * One structured log event. `event` is a stable machine-readable name (`cycle-failed`,
 * `circuit-opened`, …); `fields` carry its data, including `correlationId` (the bundle id of a
 * push) when one is known, so logs can be joined with the server's.
 */
export interface LogEntry {
  readonly level: LogLevel;
  readonly event: string;
  readonly message: string;
  readonly fields: Readonly<Record<string, string | number | boolean | null>>;
}

import { pino } from 'pino';

/** The subset of a pino logger the server uses; pass any pino-compatible logger. */
export interface FerryLogger {
  info(object: object, message?: string): void;
  warn(object: object, message?: string): void;
  error(object: object, message?: string): void;
}

/** Paths pino masks in every line, in case a caller logs a request, header or option object. */
export const REDACTED_PATHS = [
  'authorization',
  'token',
  'accessToken',
  'access_token',
  'secret',
  'jwtSecret',
  '*.authorization',
  '*.token',
  '*.access_token',
  '*.secret',
  '*.jwtSecret',
  'headers.authorization',
  'req.headers.authorization',
  'request.headers.authorization',
];

/** The default logger: JSON lines on stdout at `FERRY_LOG_LEVEL` (default info), redacted. */
export function createDefaultLogger(): FerryLogger {
  return pino({
    name: 'ferry',
    level: process.env.FERRY_LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
  });
}

/** A logger that drops everything. */
export const SILENT_LOGGER: FerryLogger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

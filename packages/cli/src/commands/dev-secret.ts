/**
 * The development secret of `ferry serve`: made once per data directory, kept in a file only
 * its owner can read, and reused on every start, so the tokens a developer pasted into other
 * terminals stay valid across restarts. Production sets `FERRY_JWT_SECRET` (or
 * `FERRY_JWKS_URL`) and never reads this file.
 *
 * The file's format and its checks are pure ({@link formatDevSecretFile},
 * {@link parseDevSecretFile}); {@link loadOrCreateDevSecret} is the thin shell that touches the
 * disk.
 *
 * @module
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The file's name inside the data directory. */
export const DEV_SECRET_FILE = 'dev-jwt-secret';

/** What {@link loadOrCreateDevSecret} found or made. */
export type DevSecretOutcome =
  | {
      readonly ok: true;
      readonly secret: string;
      readonly path: string;
      /** True when this start made the file. */
      readonly created: boolean;
      /** Set when the file is readable by other users (it should be mode 0600). */
      readonly warning?: string;
    }
  | { readonly ok: false; readonly path: string; readonly message: string };

/** The text of the secret file: a header that says what it is, then the secret. */
export function formatDevSecretFile(secret: string): string {
  return [
    '# Ferry DEVELOPMENT-ONLY JWT secret.',
    '# `ferry serve` made it because FERRY_JWT_SECRET was not set, and reuses it on every start so',
    '# that tokens stay valid across restarts. Never use it in production: set FERRY_JWT_SECRET',
    '# (or FERRY_JWKS_URL) there. Delete this file to make a new secret (old tokens then fail).',
    secret,
    '',
  ].join('\n');
}

/**
 * The secret in a file's text: its one line that is not a `#` comment, of at least 32
 * base64url characters. Anything else is a message saying what is wrong.
 */
export function parseDevSecretFile(
  text: string,
): { ok: true; secret: string } | { ok: false; message: string } {
  const lines = text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  if (lines.length !== 1) {
    return { ok: false, message: `holds ${lines.length} secret lines, not 1` };
  }
  const secret = lines[0]!;
  if (!/^[A-Za-z0-9_-]{32,}$/.test(secret)) {
    return { ok: false, message: 'holds no secret of at least 32 base64url characters' };
  }
  return { ok: true, secret };
}

/**
 * Reads the development secret of `dataDir`, or makes it: 32 random bytes, written with mode
 * 0600 and published with an atomic link, so two servers starting at once on one directory
 * agree on one secret. A file that holds no secret is reported, never overwritten (that would
 * invalidate every token signed with it).
 */
export function loadOrCreateDevSecret(dataDir: string): DevSecretOutcome {
  const path = join(dataDir, DEV_SECRET_FILE);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  let created = false;
  const secret = randomBytes(32).toString('base64url');
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  writeFileSync(temporary, formatDevSecretFile(secret), { mode: 0o600, flag: 'wx' });
  try {
    linkSync(temporary, path);
    created = true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    unlinkSync(temporary);
  }
  if (created) return { ok: true, secret, path, created };
  const parsed = parseDevSecretFile(readFileSync(path, 'utf8'));
  if (!parsed.ok) {
    return {
      ok: false,
      path,
      message: `${path} ${parsed.message}; delete it to make a new development secret`,
    };
  }
  const mode = statSync(path).mode & 0o777;
  return {
    ok: true,
    secret: parsed.secret,
    path,
    created,
    ...(mode & 0o077
      ? {
          warning: `${path} is readable by other users (mode ${mode.toString(8)}): chmod 600 it`,
        }
      : {}),
  };
}

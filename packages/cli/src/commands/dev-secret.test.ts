import { describe, expect, it } from 'vitest';
import { formatDevSecretFile, parseDevSecretFile } from './dev-secret.js';

describe('the development secret file', () => {
  const secret = 'Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGx5';

  it('reads back the secret it was written with, past its development-only header', () => {
    const text = formatDevSecretFile(secret);
    expect(text).toMatch(/^# Ferry DEVELOPMENT-ONLY JWT secret\./);
    expect(text).toContain('Never use it in production');
    expect(parseDevSecretFile(text)).toEqual({ ok: true, secret });
    expect(parseDevSecretFile(`${secret}\r\n`)).toEqual({ ok: true, secret });
  });

  it.each([
    ['an empty file', '', /holds 0 secret lines/],
    ['only comments', '# nothing here\n', /holds 0 secret lines/],
    ['two secrets', `${secret}\n${secret}\n`, /holds 2 secret lines/],
    ['a short secret', 'abc\n', /at least 32 base64url/],
    ['a secret with spaces', `${secret} ${secret}\n`, /at least 32 base64url/],
  ])('refuses %s', (_, text, message) => {
    const parsed = parseDevSecretFile(text);
    expect(parsed.ok).toBe(false);
    expect(!parsed.ok && parsed.message).toMatch(message);
  });
});

import { describe, expect, it } from 'vitest';
import { HTTP_DEFAULTS, resolveHttpOptions } from './http-options.js';

describe('resolveHttpOptions', () => {
  it('applies the defaults: keep-alive longer than clients keep idle sockets (65 s)', () => {
    expect(resolveHttpOptions()).toEqual(HTTP_DEFAULTS);
    expect(HTTP_DEFAULTS.keepAliveTimeoutMs).toBe(65_000);
  });

  it('keeps given values', () => {
    expect(resolveHttpOptions({ idleTimeoutMs: 5, lingerBytes: 1 })).toMatchObject({
      idleTimeoutMs: 5,
      lingerBytes: 1,
      headersTimeoutMs: HTTP_DEFAULTS.headersTimeoutMs,
    });
  });

  it.each([
    [{ idleTimeoutMs: 0 }, /idleTimeoutMs must be a positive integer/],
    [{ lingerMs: 1.5 }, /lingerMs must be a positive integer/],
    [{ keepAliveTimeoutMs: -1 }, /keepAliveTimeoutMs must be a positive integer/],
    [{ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 }, /must not exceed/],
  ])('refuses %o', (options, message) => {
    expect(() => resolveHttpOptions(options)).toThrow(message);
  });
});

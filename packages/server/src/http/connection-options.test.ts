import { describe, expect, it } from 'vitest';
import { CONNECTION_DEFAULTS, resolveConnectionOptions } from './connection-options.js';

describe('resolveConnectionOptions', () => {
  it('applies the defaults: keep-alive longer than clients keep idle sockets (65 s)', () => {
    expect(resolveConnectionOptions()).toEqual(CONNECTION_DEFAULTS);
    expect(CONNECTION_DEFAULTS.keepAliveTimeoutMs).toBe(65_000);
  });

  it('keeps given values', () => {
    expect(resolveConnectionOptions({ idleTimeoutMs: 5, lingerBytes: 1 })).toMatchObject({
      idleTimeoutMs: 5,
      lingerBytes: 1,
      headersTimeoutMs: CONNECTION_DEFAULTS.headersTimeoutMs,
    });
  });

  it.each([
    [{ idleTimeoutMs: 0 }, /idleTimeoutMs must be a positive integer/],
    [{ lingerMs: 1.5 }, /lingerMs must be a positive integer/],
    [{ keepAliveTimeoutMs: -1 }, /keepAliveTimeoutMs must be a positive integer/],
    [{ headersTimeoutMs: 2_000, requestTimeoutMs: 1_000 }, /must not exceed/],
  ])('refuses %o', (options, message) => {
    expect(() => resolveConnectionOptions(options)).toThrow(message);
  });
});

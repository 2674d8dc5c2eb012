import { FerryError, PROTOCOL_ERRORS, type FerryErrorCode } from '@ferry/protocol';
import { describe, expect, it } from 'vitest';
import { classifyFailure, type FailureClass } from './classify-failure.js';

describe('classifyFailure', () => {
  const cases: ReadonlyArray<
    readonly [string, FerryErrorCode, number | undefined, number | undefined, FailureClass]
  > = [
    ['a network error', 'network', undefined, undefined, 'transient'],
    ['a timeout', 'timeout', undefined, undefined, 'transient'],
    ['an aborted request', 'aborted', undefined, undefined, 'transient'],
    ['a busy local database', 'store_unavailable', undefined, undefined, 'transient'],
    ['a 503 without Retry-After', 'unavailable', 503, undefined, 'transient'],
    ['a 503 with Retry-After', 'unavailable', 503, 5, 'rate-limited'],
    ['a 429', 'rate_limited', 429, 2, 'rate-limited'],
    ['a 500', 'internal', 500, undefined, 'server-error'],
    ['a 401', 'unauthorized', 401, undefined, 'auth'],
    ['a 403', 'forbidden', 403, undefined, 'rejected'],
    ['a 413', 'payload_too_large', 413, undefined, 'rejected'],
    ['a 422', 'validation_failed', 422, undefined, 'rejected'],
    ['a 409 conflict', 'conflict', 409, undefined, 'conflict'],
    ['a 409 bundle_gap', 'bundle_gap', 409, undefined, 'bundle'],
    ['a 409 stale_bundle', 'stale_bundle', 409, undefined, 'bundle'],
    ['a 409 bundle_mismatch', 'bundle_mismatch', 409, undefined, 'bundle'],
    [
      'a 408 request_timeout (the server gave up on a slow request)',
      'request_timeout',
      408,
      undefined,
      'transient',
    ],
    [
      'a 431 headers_too_large (a token too big to send)',
      'headers_too_large',
      431,
      undefined,
      'fatal',
    ],
    ['a 410 history_pruned', 'history_pruned', 410, undefined, 'history'],
    ['a 410 cursor_unknown', 'cursor_unknown', 410, undefined, 'history'],
    ['a 410 whose body was cut short', 'bad_response', 410, undefined, 'transient'],
    ['a 400', 'bad_request', 400, undefined, 'fatal'],
    ['a 404', 'not_found', 404, undefined, 'fatal'],
    ['a proxy 502', 'bad_response', 502, undefined, 'transient'],
    ['a proxy 504', 'bad_response', 504, undefined, 'transient'],
    ['a proxy 503 with Retry-After', 'bad_response', 503, 30, 'rate-limited'],
    ['a garbled answer', 'bad_response', undefined, undefined, 'server-error'],
    ['a 200 that is not an event stream', 'bad_response', 200, undefined, 'server-error'],
    ['a dangling reference on pull', 'integrity_violation', undefined, undefined, 'server-error'],
    ['a programmer error', 'invalid_argument', undefined, undefined, 'fatal'],
    ['a closed client', 'closed', undefined, undefined, 'fatal'],
  ];

  it.each(cases)('classifies %s', (_name, code, status, retryAfterSeconds, expected) => {
    const error = new FerryError(code, 'm', {
      ...(status === undefined ? {} : { status }),
      details: { retryAfterSeconds, correlationId: 'bundle-7' },
    });
    const failure = classifyFailure(error);
    expect(failure.class).toBe(expected);
    expect(failure.code).toBe(code);
    expect(failure.correlationId).toBe('bundle-7');
    expect(failure.retryAfterMs).toBe(
      retryAfterSeconds === undefined ? null : retryAfterSeconds * 1000,
    );
  });

  it('gives every protocol error code a class', () => {
    for (const code of Object.keys(PROTOCOL_ERRORS) as FerryErrorCode[]) {
      const failure = classifyFailure(new FerryError(code, 'm'));
      expect(failure.status).toBe(PROTOCOL_ERRORS[code as keyof typeof PROTOCOL_ERRORS]);
      expect(failure.class).toBeTypeOf('string');
    }
  });

  it('treats anything that is not a FerryError as a programmer error', () => {
    expect(classifyFailure(new TypeError('x is undefined'))).toMatchObject({
      class: 'fatal',
      code: null,
      message: 'TypeError: x is undefined',
    });
    expect(classifyFailure('a string')).toMatchObject({ class: 'fatal' });
    expect(classifyFailure(undefined).class).toBe('fatal');
  });

  it('ignores malformed details', () => {
    const failure = classifyFailure(
      new FerryError('rate_limited', 'm', {
        details: { retryAfterSeconds: -3, correlationId: 42 },
      }),
    );
    expect(failure).toMatchObject({
      class: 'rate-limited',
      retryAfterMs: null,
      correlationId: null,
    });
    expect(classifyFailure(new FerryError('network', 'm', { details: 'nope' })).class).toBe(
      'transient',
    );
  });

  it('classifies by status when a code has no class of its own', () => {
    expect(classifyFailure(new FerryError('not_supported', 'm', { status: 503 })).class).toBe(
      'transient',
    );
    expect(classifyFailure(new FerryError('not_supported', 'm', { status: 501 })).class).toBe(
      'server-error',
    );
  });
});

import { describe, expect, it } from 'vitest';
import { ErrorBodySchema } from '@ferry/protocol';
import { clientErrorAnswer, rawErrorAnswer } from './client-errors.js';

describe('clientErrorAnswer', () => {
  it.each([
    ['HPE_HEADER_OVERFLOW', 'headers_too_large'],
    ['ERR_HTTP_REQUEST_TIMEOUT', 'request_timeout'],
    ['HPE_INVALID_METHOD', 'bad_request'],
    ['HPE_INVALID_CHUNK_SIZE', 'bad_request'],
    ['ECONNRESET', undefined],
    ['EPIPE', undefined],
    [undefined, undefined],
  ])('answers %s with %s', (errorCode, code) => {
    expect(clientErrorAnswer(errorCode, 16_384)?.code).toBe(code);
  });
});

describe('rawErrorAnswer', () => {
  it('is a complete HTTP/1.1 answer with the JSON error body, its length, and Connection: close', () => {
    const raw = rawErrorAnswer(clientErrorAnswer('HPE_HEADER_OVERFLOW', 16_384)!);
    const [head, body] = raw.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 431 Request Header Fields Too Large\r\n/);
    expect(head).toContain('Connection: close');
    expect(head).toContain(`Content-Length: ${Buffer.byteLength(body!)}`);
    expect(ErrorBodySchema.parse(JSON.parse(body!)).error).toEqual({
      code: 'headers_too_large',
      message: 'the request head is larger than 16384 bytes',
      details: { maxHeaderBytes: 16_384 },
    });
  });
});

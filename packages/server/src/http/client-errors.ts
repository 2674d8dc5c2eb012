import { STATUS_CODES } from 'node:http';
import { statusOfErrorCode, type ProtocolErrorCode } from '@ferry/protocol';
import { errorBody } from '../core/wire-json.js';

/** What the listener answers a connection Node could not hand to the handler. */
export interface ClientErrorAnswer {
  readonly code: ProtocolErrorCode;
  readonly message: string;
  readonly details?: unknown;
}

/**
 * The answer to a `clientError` of Node's HTTP server, by the error's code, or undefined when
 * there is nobody to answer (the client reset or closed the connection).
 *
 * | error code                  | answer                       |
 * | --------------------------- | ---------------------------- |
 * | `HPE_HEADER_OVERFLOW`       | 431 `headers_too_large`      |
 * | `ERR_HTTP_REQUEST_TIMEOUT`  | 408 `request_timeout`        |
 * | other `HPE_*` (parse error) | 400 `bad_request`            |
 * | anything else (ECONNRESET…) | none: close the connection   |
 */
export function clientErrorAnswer(
  errorCode: string | undefined,
  maxHeaderBytes: number,
): ClientErrorAnswer | undefined {
  if (errorCode === 'HPE_HEADER_OVERFLOW') {
    return {
      code: 'headers_too_large',
      message: `the request head is larger than ${maxHeaderBytes} bytes`,
      details: { maxHeaderBytes },
    };
  }
  if (errorCode === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return { code: 'request_timeout', message: 'the request did not arrive in time' };
  }
  if (errorCode?.startsWith('HPE_')) {
    return { code: 'bad_request', message: 'malformed HTTP request' };
  }
  return undefined;
}

/** The raw HTTP/1.1 bytes of an error answer that closes the connection. */
export function rawErrorAnswer(answer: ClientErrorAnswer): string {
  const status = statusOfErrorCode(answer.code);
  const body = JSON.stringify(errorBody(answer.code, answer.message, answer.details));
  return [
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}`,
    'Content-Type: application/json; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(body)}`,
    'Connection: close',
    '',
    body,
  ].join('\r\n');
}

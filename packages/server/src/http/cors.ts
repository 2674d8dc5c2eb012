/**
 * Cross-origin access for browser apps served from another origin than the sync server.
 * Tokens travel in the `Authorization` header (or `?access_token=` for EventSource), never in
 * cookies, so no credentials mode is needed.
 */

import { CLIENT_REQUEST_HEADERS } from '@ferry/protocol';

/** Which origins may call the server from a browser. */
export interface CorsOptions {
  /** Allowed origins (`https://app.example.com`), or `'*'` for any. */
  readonly origins: readonly string[] | '*';
  /** How long a browser may cache a preflight answer (default 600 s). */
  readonly maxAgeSeconds?: number;
}

const ALLOWED_HEADERS = CLIENT_REQUEST_HEADERS.join(', ');
const EXPOSED_HEADERS = 'x-request-id, x-ferry-bundle-seq, retry-after';

/**
 * Wraps a fetch handler: answers preflight requests of allowed origins itself and adds the
 * CORS headers to every answer to an allowed origin. Other origins get answers without them,
 * which the browser then withholds from the page.
 */
export function withCors(
  handler: (request: Request) => Promise<Response>,
  options: CorsOptions,
): (request: Request) => Promise<Response> {
  const allowed =
    options.origins === '*' ? () => true : (origin: string) => options.origins.includes(origin);
  const maxAge = String(options.maxAgeSeconds ?? 600);
  return async (request) => {
    const origin = request.headers.get('origin');
    const permitted = origin !== null && allowed(origin);
    if (request.method === 'OPTIONS' && request.headers.has('access-control-request-method')) {
      const headers = new Headers({ vary: 'Origin' });
      if (permitted) {
        headers.set('access-control-allow-origin', origin);
        headers.set('access-control-allow-methods', 'GET, POST, OPTIONS');
        headers.set('access-control-allow-headers', ALLOWED_HEADERS);
        headers.set('access-control-max-age', maxAge);
      }
      return new Response(null, { status: 204, headers });
    }
    const response = await handler(request);
    if (permitted) {
      response.headers.set('access-control-allow-origin', origin);
      response.headers.set('access-control-expose-headers', EXPOSED_HEADERS);
      response.headers.append('vary', 'Origin');
    }
    return response;
  };
}

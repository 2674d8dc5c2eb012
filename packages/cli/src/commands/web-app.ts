/**
 * What `ferry serve` answers besides the sync API: the files of a built web app (the todo web
 * app by default) from the server's own origin, and in development mode `POST /dev/token`,
 * which signs a token for any user name (the web app's sign-in).
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { signToken } from '@ferry/server';

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.wasm': 'application/wasm',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
};

/** A user name the development token route accepts. */
const USER_NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

/** The built todo web app (`@ferry/example-todo-web`'s `dist`), when it is installed and built. */
export function defaultWebAppDir(): string | undefined {
  try {
    const manifest = createRequire(import.meta.url).resolve('@ferry/example-todo-web/package.json');
    const dir = join(dirname(manifest), 'dist');
    return existsSync(join(dir, 'index.html')) ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** Options of {@link webAppHandler}. */
export interface WebAppOptions {
  /** The directory of the built app (with its `index.html`), or undefined for none. */
  readonly dir: string | undefined;
  /** The development secret: `POST /dev/token` answers only when it is set. */
  readonly devSecret: string | undefined;
}

/**
 * The handler of the requests outside the sync API: `POST /dev/token` in development mode,
 * then the app's files (`GET`/`HEAD`; a path without a file extension gets `index.html`, so the
 * app's own routes load it), else 404.
 */
export function webAppHandler(options: WebAppOptions): (request: Request) => Promise<Response> {
  const root = options.dir === undefined ? undefined : normalize(options.dir);
  return async (request) => {
    const { pathname } = new URL(request.url);
    if (pathname === '/dev/token') return devToken(request, options.devSecret);
    if (root === undefined) return notFound(pathname);
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      return new Response(null, { status: 405, headers: { allow: 'GET, HEAD' } });
    }
    let decoded: string;
    try {
      decoded = decodeURIComponent(pathname);
    } catch {
      return notFound(pathname);
    }
    let file = normalize(join(root, decoded));
    if (file !== root && !file.startsWith(root + sep)) return notFound(pathname);
    if (!isFile(file)) {
      if (extname(pathname) !== '') return notFound(pathname);
      file = join(root, 'index.html');
    }
    const body = request.method === 'HEAD' ? null : readFileSync(file);
    return new Response(body, {
      headers: {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        // Vite names built assets by their content: they never change. The page itself may.
        'cache-control': file.includes(`${sep}assets${sep}`)
          ? 'public, max-age=31536000, immutable'
          : 'no-cache',
      },
    });
  };
}

async function devToken(request: Request, secret: string | undefined): Promise<Response> {
  if (secret === undefined) {
    return json(404, {
      error: {
        code: 'not_found',
        message: 'development tokens exist only in development mode (no FERRY_JWT_SECRET)',
      },
    });
  }
  if (request.method !== 'POST') {
    return json(405, { error: { code: 'method_not_allowed', message: 'POST only' } });
  }
  const body = (await request.json().catch(() => null)) as { userId?: unknown } | null;
  const userId = body?.userId;
  if (typeof userId !== 'string' || !USER_NAME.test(userId)) {
    return json(400, {
      error: {
        code: 'invalid_argument',
        message:
          'userId must be 1 to 64 letters, digits or . _ @ -, starting with a letter or digit',
      },
    });
  }
  const token = await signToken({ secret, userId, expiresInSeconds: 24 * 60 * 60 });
  return json(200, { userId, token });
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function notFound(pathname: string): Response {
  return json(404, { error: { code: 'not_found', message: `no route ${pathname}` } });
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

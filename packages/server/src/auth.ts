import { SignJWT, errors as joseErrors, jwtVerify } from 'jose';
import { FerryError } from '@ferry/protocol';

/** Who a request acts for. */
export interface Identity {
  readonly userId: string;
}

/**
 * How requests are authenticated: HS256 JWTs signed with a shared secret (the `sub` claim is
 * the user id), or a hook of the embedder that returns the identity or null (401).
 */
export type AuthOptions =
  | {
      readonly jwtSecret: string;
      /** Leeway for `exp` and `nbf`, in seconds (default 5). */
      readonly clockToleranceSeconds?: number;
    }
  | {
      readonly authenticate: (request: Request) => Promise<Identity | null> | Identity | null;
    };

/** Authenticates one request: the identity, or null for 401. `token` is the bearer token found. */
export type Authenticator = (
  request: Request,
  token: string | undefined,
) => Promise<Identity | null>;

const encoder = new TextEncoder();

/**
 * Makes the authenticator of a server. With a secret, only HS256 is accepted: `alg: none`, a
 * wrong signature, a missing or empty `sub`, an expired token and one whose `nbf` lies in the
 * future all answer null.
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  if ('authenticate' in options) {
    const hook = options.authenticate;
    return async (request) => {
      const identity = await hook(request);
      if (identity === null || identity === undefined) return null;
      if (typeof identity.userId !== 'string' || identity.userId.length === 0) {
        throw new FerryError('internal', 'authenticate() returned an identity without a userId');
      }
      return { userId: identity.userId };
    };
  }
  if (typeof options.jwtSecret !== 'string' || options.jwtSecret.length === 0) {
    throw new FerryError('invalid_argument', 'auth.jwtSecret must be a non-empty string');
  }
  const key = encoder.encode(options.jwtSecret);
  const clockTolerance = options.clockToleranceSeconds ?? 5;
  return async (_request, token) => {
    if (!token) return null;
    try {
      const { payload } = await jwtVerify(token, key, { algorithms: ['HS256'], clockTolerance });
      return typeof payload.sub === 'string' && payload.sub.length > 0
        ? { userId: payload.sub }
        : null;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
  };
}

/** Options of {@link signToken}. */
export interface SignTokenOptions {
  readonly secret: string;
  readonly userId: string;
  /** Lifetime in seconds (default 3,600). */
  readonly expiresInSeconds?: number;
  /** Seconds from now before which the token is not valid (sets `nbf`). */
  readonly notBeforeSeconds?: number;
}

/**
 * Signs an HS256 token for `userId` that a server with the same `jwtSecret` accepts.
 *
 * @example
 * const token = await signToken({ secret: process.env.FERRY_JWT_SECRET!, userId: 'alice' });
 */
export async function signToken(options: SignTokenOptions): Promise<string> {
  if (!options.userId) throw new FerryError('invalid_argument', 'signToken needs a userId');
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(options.userId)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.expiresInSeconds ?? 3600));
  if (options.notBeforeSeconds !== undefined) jwt.setNotBefore(now + options.notBeforeSeconds);
  return jwt.sign(encoder.encode(options.secret));
}

/**
 * The bearer token of a request: the `Authorization: Bearer …` header, or (where a browser's
 * EventSource cannot set headers) the `access_token` query parameter.
 */
export function bearerToken(request: Request, url: URL, allowQuery: boolean): string | undefined {
  const header = request.headers.get('authorization');
  if (header) {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    return match ? match[1] : undefined;
  }
  if (allowQuery) return url.searchParams.get('access_token') ?? undefined;
  return undefined;
}

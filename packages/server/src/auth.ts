import { SignJWT, createRemoteJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import { FerryError } from '@ferry/protocol';
import { checkUserId } from './core/user-id.js';

/** Who a request acts for. */
export interface Identity {
  readonly userId: string;
  /**
   * The token's claims (its whole JWT payload, `sub` included), for the server's hooks; an
   * `authenticate` hook may give its own.
   */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * Tokens of an identity provider, verified with the public keys it publishes as a JSON Web Key
 * Set (Auth0, Clerk, Supabase, Keycloak, Cognito …). Keys are fetched on first use and cached;
 * an unknown key id refetches them (rate-limited by jose).
 */
export interface JwksAuthOptions {
  /** The JWKS document, e.g. `https://issuer.example.com/.well-known/jwks.json`. */
  readonly url: string;
  /** Accepted algorithms (default RS256 and ES256). HS* and `none` are never accepted here. */
  readonly algorithms?: readonly (
    'RS256' | 'RS384' | 'RS512' | 'PS256' | 'ES256' | 'ES384' | 'EdDSA'
  )[];
  /** Required `iss` claim, when set. */
  readonly issuer?: string | readonly string[];
  /** Required `aud` claim, when set. */
  readonly audience?: string | readonly string[];
  /** Leeway for `exp` and `nbf`, in seconds (default 5). */
  readonly clockToleranceSeconds?: number;
  /** How long a fetch of the key set may take (default 5,000 ms). */
  readonly timeoutMs?: number;
}

/**
 * How requests are authenticated: HS256 JWTs signed with a shared secret, asymmetric JWTs of an
 * identity provider checked against its JWKS (in both the `sub` claim is the user id), or a hook
 * of the embedder that returns the identity or null (401).
 */
export type AuthOptions =
  | {
      readonly jwtSecret: string;
      /** Leeway for `exp` and `nbf`, in seconds (default 5). */
      readonly clockToleranceSeconds?: number;
    }
  | { readonly jwks: JwksAuthOptions }
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
 * future all answer null. In every mode, a user id that is not a valid one (see
 * `checkUserId`: well-formed Unicode, no control characters, at most 255 characters) answers
 * null too, before any store sees it.
 */
export function createAuthenticator(options: AuthOptions): Authenticator {
  const authenticate = verifierOf(options);
  return async (request, token) => {
    const identity = await authenticate(request, token);
    return identity && checkUserId(identity.userId).ok ? identity : null;
  };
}

function verifierOf(options: AuthOptions): Authenticator {
  if ('authenticate' in options) {
    const hook = options.authenticate;
    return async (request) => {
      const identity = await hook(request);
      if (identity === null || identity === undefined) return null;
      if (typeof identity.userId !== 'string' || identity.userId.length === 0) {
        throw new FerryError('internal', 'authenticate() returned an identity without a userId');
      }
      return identity.claims === undefined
        ? { userId: identity.userId }
        : { userId: identity.userId, claims: identity.claims };
    };
  }
  if ('jwks' in options) return jwksAuthenticator(options.jwks);
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
        ? { userId: payload.sub, claims: payload }
        : null;
    } catch (error) {
      if (error instanceof joseErrors.JOSEError) return null;
      throw error;
    }
  };
}

function jwksAuthenticator(options: JwksAuthOptions): Authenticator {
  let url: URL;
  try {
    url = new URL(options.url);
  } catch {
    throw new FerryError('invalid_argument', `auth.jwks.url is not a URL: ${options.url}`);
  }
  const keys = createRemoteJWKSet(url, { timeoutDuration: options.timeoutMs ?? 5_000 });
  const verifyOptions = {
    algorithms: [...(options.algorithms ?? ['RS256', 'ES256'])],
    clockTolerance: options.clockToleranceSeconds ?? 5,
    ...(options.issuer !== undefined
      ? { issuer: typeof options.issuer === 'string' ? options.issuer : [...options.issuer] }
      : {}),
    ...(options.audience !== undefined
      ? {
          audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
        }
      : {}),
  };
  return async (_request, token) => {
    if (!token) return null;
    try {
      const { payload } = await jwtVerify(token, keys, verifyOptions);
      return typeof payload.sub === 'string' && payload.sub.length > 0
        ? { userId: payload.sub, claims: payload }
        : null;
    } catch (error) {
      // The keys could not be had: the server cannot judge the token, so it is not the
      // client's fault (503, retried), unlike a token the keys reject (401).
      if (
        error instanceof joseErrors.JWKSTimeout ||
        error instanceof joseErrors.JWKSInvalid ||
        !(error instanceof joseErrors.JOSEError)
      ) {
        throw new FerryError('unavailable', "the identity provider's keys (JWKS) are unreachable", {
          cause: error,
        });
      }
      return null;
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
  /** More claims (a `role`, a `plan` …), which the server's hooks read in `ctx.claims`. */
  readonly claims?: Readonly<Record<string, unknown>>;
}

/**
 * Signs an HS256 token for `userId` that a server with the same `jwtSecret` accepts.
 *
 * @example
 * const token = await signToken({ secret: process.env.FERRY_JWT_SECRET!, userId: 'alice' });
 */
export async function signToken(options: SignTokenOptions): Promise<string> {
  const valid = checkUserId(options.userId);
  if (!valid.ok) throw new FerryError('invalid_argument', `signToken: ${valid.reason}`);
  const now = Math.floor(Date.now() / 1000);
  const jwt = new SignJWT({ ...options.claims })
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

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { todoSchema } from '@ferry/example-todo';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFerryServer, type FerryServer } from './ferry-server.js';
import { createSqliteStore } from './store/sqlite/sqlite-store.js';

/** An identity provider: a real HTTP server publishing a JWKS on 127.0.0.1. */
let issuerKey: CryptoKey;
let strangerKey: CryptoKey;
let jwks: { keys: JWK[] };

beforeAll(async () => {
  const issuer = await generateKeyPair('ES256');
  const stranger = await generateKeyPair('ES256');
  issuerKey = issuer.privateKey;
  strangerKey = stranger.privateKey;
  jwks = {
    keys: [{ ...(await exportJWK(issuer.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }],
  };
});

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function startIssuer(): Promise<{ url: string; close(): Promise<void> }> {
  const http: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(jwks));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  const handle = {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/.well-known/jwks.json`,
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
  servers.push(handle);
  return handle;
}

async function startFerry(jwksUrl: string): Promise<{ server: FerryServer; url: string }> {
  const server = await createFerryServer({
    schema: todoSchema,
    store: createSqliteStore({ path: ':memory:' }),
    auth: {
      jwks: { url: jwksUrl, issuer: 'https://issuer.test', audience: 'ferry', timeoutMs: 1_000 },
    },
    logger: false,
  });
  servers.push(server);
  const { url } = await server.listen({ host: '127.0.0.1', port: 0 });
  return { server, url };
}

interface TokenOptions {
  key?: CryptoKey;
  kid?: string;
  issuer?: string;
  audience?: string;
  expiresAt?: number;
  sub?: string | null;
}

function token(options: TokenOptions = {}): Promise<string> {
  const jwt = new SignJWT({})
    .setProtectedHeader({ alg: 'ES256', kid: options.kid ?? 'k1' })
    .setIssuer(options.issuer ?? 'https://issuer.test')
    .setAudience(options.audience ?? 'ferry')
    .setIssuedAt()
    .setExpirationTime(options.expiresAt ?? Math.floor(Date.now() / 1000) + 600);
  if (options.sub !== null) jwt.setSubject(options.sub ?? 'alice');
  return jwt.sign(options.key ?? issuerKey);
}

const unsigned = (payload: object) =>
  `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.`;

async function pullStatus(url: string, bearer: string): Promise<Response> {
  return fetch(`${url}/v1/pull?after=0`, { headers: { authorization: `Bearer ${bearer}` } });
}

describe('auth with a JWKS', () => {
  it('accepts a token of the identity provider over HTTP, with sub as the user', async () => {
    const issuer = await startIssuer();
    const { url } = await startFerry(issuer.url);
    const response = await pullStatus(url, await token());
    expect(response.status).toBe(200);
    await expect(response.json()).resolves.toMatchObject({ bundles: [], stableBundleSeq: 0 });
  });

  it.each<[string, () => Promise<string>]>([
    ['a token signed by another key', () => token({ key: strangerKey })],
    ['a token naming an unknown key', () => token({ kid: 'k2' })],
    ['a token of another issuer', () => token({ issuer: 'https://evil.test' })],
    ['a token for another audience', () => token({ audience: 'billing' })],
    ['an expired token', () => token({ expiresAt: Math.floor(Date.now() / 1000) - 3_600 })],
    ['a token without sub', () => token({ sub: null })],
    [
      'an unsigned token (alg none)',
      async () => unsigned({ sub: 'alice', iss: 'https://issuer.test', aud: 'ferry' }),
    ],
  ])('refuses %s with 401', async (_name, make) => {
    const issuer = await startIssuer();
    const { url } = await startFerry(issuer.url);
    const response = await pullStatus(url, await make());
    expect(response.status).toBe(401);
    await expect(response.json()).resolves.toMatchObject({ error: { code: 'unauthorized' } });
  });

  it('answers 503 with Retry-After while the key set cannot be fetched', async () => {
    const issuer = await startIssuer();
    const jwksUrl = issuer.url;
    await issuer.close();
    servers.pop();
    const { url } = await startFerry(jwksUrl);
    const down = await pullStatus(url, await token());
    expect(down.status).toBe(503);
    expect(down.headers.get('retry-after')).toMatch(/^\d+$/);
    await expect(down.json()).resolves.toMatchObject({ error: { code: 'unavailable' } });
  });

  it('rejects a JWKS option that is not a URL when the server is made', async () => {
    await expect(
      createFerryServer({
        schema: todoSchema,
        store: createSqliteStore({ path: ':memory:' }),
        auth: { jwks: { url: 'not a url' } },
        logger: false,
      }),
    ).rejects.toMatchObject({ code: 'invalid_argument' });
  });
});

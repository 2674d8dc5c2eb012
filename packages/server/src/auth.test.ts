import { describe, expect, it } from 'vitest';
import { createAuthenticator, signToken } from './auth.js';

const SECRET = 'auth-test-secret-of-at-least-32-bytes';
const request = new Request('http://127.0.0.1/v1/pull');

describe('the identity of a request', () => {
  it("carries the token's claims, for the server's hooks", async () => {
    const authenticate = createAuthenticator({ jwtSecret: SECRET });
    const token = await signToken({
      secret: SECRET,
      userId: 'alice',
      claims: { role: 'viewer', plan: 'free' },
    });
    const identity = await authenticate(request, token);
    expect(identity?.userId).toBe('alice');
    expect(identity?.claims).toMatchObject({ sub: 'alice', role: 'viewer', plan: 'free' });
  });

  it('keeps the claims an authenticate hook gives, and gives none when it gives none', async () => {
    const withClaims = createAuthenticator({
      authenticate: () => ({ userId: 'bob', claims: { role: 'admin' } }),
    });
    expect(await withClaims(request, undefined)).toEqual({
      userId: 'bob',
      claims: { role: 'admin' },
    });
    const without = createAuthenticator({ authenticate: () => ({ userId: 'bob' }) });
    expect(await without(request, undefined)).toEqual({ userId: 'bob' });
  });
});

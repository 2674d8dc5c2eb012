import { describe, expect, it } from 'vitest';
import { ConcurrencyLimiter, decideAdmission } from './concurrency-limiter.js';

describe('decideAdmission', () => {
  const caps = { perUser: 2, total: 3 };
  it.each([
    [{ user: 0, total: 0 }, { ok: true }],
    [{ user: 1, total: 2 }, { ok: true }],
    [
      { user: 2, total: 2 },
      { ok: false, reason: 'user' },
    ],
    [
      { user: 0, total: 3 },
      { ok: false, reason: 'total' },
    ],
    [
      { user: 2, total: 3 },
      { ok: false, reason: 'user' },
    ],
  ])('with %o running: %o', (running, admission) => {
    expect(decideAdmission(running, caps)).toEqual(admission);
  });
});

describe('ConcurrencyLimiter', () => {
  it('admits per user and in total, and a released slot (once, however often) is free again', () => {
    const limiter = new ConcurrencyLimiter({ perUser: 2, total: 3 });
    const a1 = limiter.tryAcquire('a');
    const a2 = limiter.tryAcquire('a');
    expect(limiter.tryAcquire('a')).toEqual({ ok: false, reason: 'user' });
    const b1 = limiter.tryAcquire('b');
    expect(limiter.tryAcquire('c')).toEqual({ ok: false, reason: 'total' });
    expect(limiter.running).toBe(3);
    if (!a1.ok || !a2.ok || !b1.ok) throw new Error('expected slots');
    a1.lease.release();
    a1.lease.release();
    expect(limiter.running).toBe(2);
    expect(limiter.tryAcquire('c').ok).toBe(true);
    expect(limiter.tryAcquire('a')).toEqual({ ok: false, reason: 'total' });
    a2.lease.release();
    b1.lease.release();
    expect(limiter.running).toBe(1);
  });
});

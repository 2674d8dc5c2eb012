import { describe, expect, it } from 'vitest';
import { createSeededRandom } from './seeded-random.js';

describe('createSeededRandom', () => {
  it('gives the same sequence for the same seed, and another for another seed', () => {
    const draw = (seed: number) => {
      const random = createSeededRandom(seed);
      return [random.next(), random.int(0, 1000), random.uuid(), random.word(8)];
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
  });

  it('keeps next() in [0, 1) and int(min, max) in [min, max], reaching both ends', () => {
    const random = createSeededRandom(7);
    const seen = new Set<number>();
    for (let i = 0; i < 10_000; i++) {
      const x = random.next();
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
      seen.add(random.int(-2, 2));
    }
    expect([...seen].sort()).toEqual([-1, -2, 0, 1, 2]);
  });

  it('makes lower-case v4 UUIDs and picks by weight (never a weight of 0)', () => {
    const random = createSeededRandom(1);
    expect(random.uuid()).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    const counts = { a: 0, b: 0, c: 0 };
    for (let i = 0; i < 4000; i++) counts[random.weighted({ a: 3, b: 1, c: 0 })]++;
    expect(counts.c).toBe(0);
    expect(counts.a / counts.b).toBeGreaterThan(2.5);
    expect(counts.a / counts.b).toBeLessThan(3.5);
  });

  it('forks independent generators that are themselves reproducible', () => {
    const a = createSeededRandom(9).fork('network');
    const b = createSeededRandom(9).fork('network');
    const c = createSeededRandom(9).fork('device');
    const take = (r: typeof a) => [r.next(), r.next(), r.next()];
    expect(take(a)).toEqual(take(b));
    expect(take(createSeededRandom(9).fork('network'))).not.toEqual(take(c));
  });
});

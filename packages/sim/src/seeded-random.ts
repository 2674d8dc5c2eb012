/**
 * The simulation's only source of randomness: a small, fast, seedable PRNG (sfc32 seeded
 * through splitmix32). Every decision of a run draws from one of these, so a seed replays the
 * same run.
 *
 * Invariants:
 * 1. Two generators made from the same seed (and label) return the same sequence.
 * 2. `next()` is in [0, 1); `int(min, max)` is in [min, max], both inclusive.
 */
export interface SeededRandom {
  /** The seed it was made from. */
  readonly seed: number;
  /** A number in [0, 1) (a plain function: it may be passed around unbound). */
  readonly next: () => number;
  /** An integer in [min, max], both inclusive. */
  int(min: number, max: number): number;
  /** True with probability `p`. */
  chance(p: number): boolean;
  /** One element of a non-empty array. */
  pick<T>(items: readonly T[]): T;
  /** One key, chosen with probability proportional to its weight (weights ≤ 0 never). */
  weighted<T extends string>(weights: Readonly<Partial<Record<T, number>>>): T;
  /** A new array with the elements in random order. */
  shuffle<T>(items: readonly T[]): T[];
  /** A random lower-case UUID v4. */
  uuid(): string;
  /** `length` random characters of [a-z0-9]. */
  word(length: number): string;
  /** An independent generator derived from this one's seed and `label`. */
  fork(label: string): SeededRandom;
}

/** Creates a {@link SeededRandom}. Seeds are taken modulo 2^32. */
export function createSeededRandom(seed: number): SeededRandom {
  return make(seed >>> 0, seed >>> 0);
}

function make(seed: number, state: number): SeededRandom {
  let s = state >>> 0;
  const split = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  let a = split();
  let b = split();
  let c = split();
  let d = split();
  const next32 = () => {
    const t = (((a + b) >>> 0) + d) >>> 0;
    d = (d + 1) >>> 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) >>> 0;
    c = ((c << 21) | (c >>> 11)) >>> 0;
    c = (c + t) >>> 0;
    return t;
  };
  for (let i = 0; i < 12; i++) next32();
  const next = () => next32() / 4294967296;
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  const random: SeededRandom = {
    seed,
    next,
    int,
    chance: (p) => next() < p,
    pick<T>(items: readonly T[]): T {
      if (items.length === 0) throw new Error('pick() from an empty array');
      return items[int(0, items.length - 1)]!;
    },
    weighted<T extends string>(weights: Readonly<Partial<Record<T, number>>>): T {
      const entries = (Object.entries(weights) as [T, number][]).filter(([, w]) => w > 0);
      if (entries.length === 0) throw new Error('weighted() without a positive weight');
      const total = entries.reduce((sum, [, w]) => sum + w, 0);
      let roll = next() * total;
      for (const [key, weight] of entries) {
        roll -= weight;
        if (roll < 0) return key;
      }
      return entries[entries.length - 1]![0];
    },
    shuffle<T>(items: readonly T[]): T[] {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = int(0, i);
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    uuid() {
      const hex = (n: number, width: number) => n.toString(16).padStart(width, '0');
      const w = () => next32();
      const p1 = hex(w(), 8);
      const p2 = hex(w() & 0xffff, 4);
      const p3 = hex((w() & 0x0fff) | 0x4000, 4);
      const p4 = hex((w() & 0x3fff) | 0x8000, 4);
      const p5 = hex(w() & 0xffff, 4) + hex(w(), 8);
      return `${p1}-${p2}-${p3}-${p4}-${p5}`;
    },
    word(length) {
      const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
      let out = '';
      for (let i = 0; i < length; i++) out += alphabet[int(0, alphabet.length - 1)];
      return out;
    },
    fork(label) {
      let h = 0x811c9dc5 ^ seed;
      for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
      return make(seed, (h ^ next32()) >>> 0);
    },
  };
  return random;
}

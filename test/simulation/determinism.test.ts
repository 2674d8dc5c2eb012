/**
 * Same seed, same run: the simulated world sees no real time, timers or randomness, so two
 * runs of a seed produce the same trace (hashed) and the same outcome.
 */
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { runSimulation } from '@ferry/sim';

describe('determinism', () => {
  it.each([
    ['explicit', 17],
    ['scheduler', 23],
  ] as const)(
    '%s sync: a seed run twice gives the same trace, outcome and fault counts',
    async (mode, seed) => {
      const first = await runSimulation({ schema: todoSchema, seed, mode, operations: 150 });
      const second = await runSimulation({ schema: todoSchema, seed, mode, operations: 150 });
      expect(first.ok).toBe(true);
      expect(second.traceHash).toBe(first.traceHash);
      expect(second.trace).toEqual(first.trace);
      expect(second.faults).toEqual(first.faults);
      expect(second.steps).toBe(first.steps);
      expect(first.steps).toBeGreaterThan(150);
    },
  );

  it('different seeds give different runs', async () => {
    const a = await runSimulation({ schema: todoSchema, seed: 1, operations: 60 });
    const b = await runSimulation({ schema: todoSchema, seed: 2, operations: 60 });
    expect(a.traceHash).not.toBe(b.traceHash);
  });
});

/**
 * Negative controls: a simulator that cannot fail proves nothing. Each deliberately broken
 * engine variant (test-only `__unsafeFaults` of the client and of the server's SQLite store)
 * must be caught by the invariants within a few seeds of the CI budget.
 */
import { describe, expect, it } from 'vitest';
import { todoSchema } from '@ferry/example-todo';
import { runSimulation, type InvariantId, type UnsafeFaults } from '@ferry/sim';

const MAX_SEEDS = Number(process.env['FERRY_SIM_CONTROL_SEEDS'] ?? 12);

const controls: [string, UnsafeFaults, InvariantId][] = [
  [
    'the server skips its idempotency check (a resend commits again)',
    { server: { skipIdempotencyCheck: true } },
    'exactly-once',
  ],
  [
    'the server skips its conflict check (lost updates)',
    { server: { skipConflictCheck: true } },
    'protocol',
  ],
  [
    "the client moves its checkpoint to a pushed bundle's seq without contiguity",
    { client: { checkpointWithoutContiguity: true } },
    'pull-completeness',
  ],
  [
    'the client lets a remote change overwrite a pending local edit',
    { client: { overwritePendingLocalEdit: true } },
    'lost-write',
  ],
  [
    'the client forgets how its bundle committed (edits made meanwhile keep an old base)',
    { client: { forgetCommittedRows: true } },
    'spurious-conflict',
  ],
];

describe('negative controls', () => {
  it.each(controls)('caught: %s', { timeout: 300_000 }, async (_name, unsafeFaults, invariant) => {
    const caught: string[] = [];
    for (let seed = 1; seed <= MAX_SEEDS && caught.length === 0; seed++) {
      const result = await runSimulation({ schema: todoSchema, seed, unsafeFaults });
      if (!result.ok) caught.push(...result.violations.map((v) => `${seed} ${v.invariant}`));
    }
    expect(caught.length).toBeGreaterThan(0);
    expect(caught.map((c) => c.split(' ')[1])).toContain(invariant);
  });

  it('the same seeds pass without the broken variants', async () => {
    const result = await runSimulation({ schema: todoSchema, seed: 1 });
    expect(result.violations).toEqual([]);
  });
});

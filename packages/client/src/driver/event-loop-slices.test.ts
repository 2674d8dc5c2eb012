import { afterEach, describe, expect, it } from 'vitest';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { EventLoopSlices } from './event-loop-slices.js';
import { SerialDatabase } from './serial-database.js';

describe('event loop slices', () => {
  const open: SerialDatabase[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
  });

  /** Runs 12 statements in one transaction, 5 ms of (fake) time each; returns what ran when. */
  async function longTransaction(slices: EventLoopSlices | undefined, tick: () => void) {
    const db = new SerialDatabase(betterSqlite3Driver(':memory:'), slices);
    open.push(db);
    await db.exec('CREATE TABLE t (n INTEGER)');
    const events: string[] = [];
    // Work of the app waiting for the event loop (a timer, an incoming message).
    setImmediate(() => events.push('app'));
    await db.transaction(async (tx) => {
      for (let i = 0; i < 12; i++) {
        await tx.run('INSERT INTO t (n) VALUES (?)', [i]);
        events.push(`statement ${i}`);
        tick();
      }
    });
    events.push('committed');
    await new Promise<void>((resolve) => setImmediate(resolve));
    return events;
  }

  it('give the app a turn inside a long transaction once a slice is used up', async () => {
    let now = 0;
    const events = await longTransaction(new EventLoopSlices(() => now, 20), () => (now += 5));
    // 20 ms of the slice are used up after the fourth statement: the fifth waits for a turn.
    expect(events.indexOf('app')).toBe(events.indexOf('statement 3') + 1);
    // And again every slice, never more often.
    expect(events.filter((e) => e === 'app')).toHaveLength(1);
  });

  it('without slices, a transaction runs to its end before anything else', async () => {
    const events = await longTransaction(undefined, () => undefined);
    expect(events.indexOf('app')).toBeGreaterThan(events.indexOf('committed'));
  });

  it('start a new slice when the event loop turned by itself', async () => {
    let now = 0;
    const slices = new EventLoopSlices(() => now, 20);
    expect(slices.breathe()).toBeUndefined();
    now = 15;
    await new Promise<void>((resolve) => setImmediate(resolve)); // the loop turns: new slice
    now = 30;
    expect(slices.breathe()).toBeUndefined(); // 15 ms into the new slice
    now = 36;
    const turn = slices.breathe(); // 21 ms: a turn first
    expect(turn).toBeInstanceOf(Promise);
    await turn;
  });
});

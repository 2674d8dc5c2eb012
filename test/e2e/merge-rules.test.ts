import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema } from '@ferry/protocol';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

const schema = defineSchema({
  tables: {
    players: {
      owner: 'owner_id',
      columns: {
        id: { type: 'uuid' },
        owner_id: { type: 'text' },
        best: { type: 'integer', notNull: true, default: 0, merge: 'max' },
        tags: { type: 'json', notNull: true, default: [], merge: 'union' },
        edited_at: { type: 'timestamp' },
        motto: { type: 'text', merge: { latest: 'edited_at' } },
      },
    },
  },
});
type PlayersSchema = typeof schema;

describe('value merge rules over HTTP', () => {
  let h: Harness<PlayersSchema>;
  afterEach(async () => {
    await h.close();
  });

  it('two devices that changed the same columns offline converge on the larger score, both sides’ tags, and the later motto', async () => {
    h = await startHarness<PlayersSchema>({ schema });
    const a = await h.client('a');
    const b = await h.client('b');
    const id = uuid();
    await a.write((tx) =>
      tx.insert('players', { id, best: 10, tags: ['new'], motto: 'hello', edited_at: null }),
    );
    await a.sync();
    await b.sync();

    await a.write((tx) =>
      tx.update('players', id, {
        best: 50,
        tags: ['new', 'fast'],
        motto: 'from a',
        edited_at: '2026-03-01T10:00:00Z',
      }),
    );
    await b.write((tx) =>
      tx.update('players', id, {
        best: 40,
        tags: ['night'],
        motto: 'from b',
        edited_at: '2026-03-01T11:00:00Z',
      }),
    );
    await a.sync();
    const report = await b.sync();
    expect(report.conflicts).toEqual([expect.objectContaining({ pk: id })]);
    await a.sync();

    const [server] = await serverRows(h, 'alice', 'players');
    // b removed "new", a added "fast", b added "night"; 50 beats 40; b edited the motto later.
    expect(server).toMatchObject({ best: 50, tags: ['fast', 'night'], motto: 'from b' });
    expect(await rowsOf(a, 'players')).toEqual(await serverRows(h, 'alice', 'players'));
    expect(await rowsOf(b, 'players')).toEqual(await serverRows(h, 'alice', 'players'));
  });
});

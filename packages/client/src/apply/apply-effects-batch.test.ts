import { afterEach, describe, expect, it } from 'vitest';
import { defineSchema, type Row } from '@ferry/protocol';
import { betterSqlite3Driver } from '../drivers/better-sqlite3.js';
import { SerialDatabase } from '../driver/serial-database.js';
import type { EngineContext } from '../engine-context.js';
import { METADATA_SQL, TEMP_TABLES_SQL, localSchemaSql } from '../local/local-schema-sql.js';
import { setApplying } from '../local/metadata.js';
import { createTableCodecs } from '../local/table-codec.js';
import { applyRowEffect } from './apply-bundles.js';
import { applyEffectsWithoutIntent, type ServerEffect } from './apply-effects-batch.js';
import { TouchedRows } from '../local/touched-rows.js';

const schema = defineSchema({
  tables: {
    projects: {
      owner: 'owner_id',
      columns: { id: { type: 'text' }, owner_id: { type: 'text' }, name: { type: 'text' } },
    },
    tasks: {
      owner: 'owner_id',
      columns: {
        id: { type: 'integer' },
        owner_id: { type: 'text' },
        project_id: { type: 'text', references: { table: 'projects', onDelete: 'cascade' } },
        done: { type: 'boolean' },
      },
    },
  },
});

const ctx: EngineContext = {
  schema,
  codecs: createTableCodecs(schema),
  sourceId: '00000000-0000-4000-8000-000000000001',
  now: () => 0,
  hook: () => undefined,
  derived: [],
};

/** A file with the schema, some rows already known (the same in every file this makes). */
async function openFile(): Promise<SerialDatabase> {
  const db = new SerialDatabase(betterSqlite3Driver(':memory:'));
  await db.exec(METADATA_SQL);
  await db.exec(TEMP_TABLES_SQL);
  for (const sql of localSchemaSql(schema)) await db.exec(sql);
  await db.exec(`
    INSERT INTO projects (id, owner_id, name) VALUES ('p1', 'u', 'one');
    INSERT INTO ferry_rows (tbl, pk, version, deleted, base)
      VALUES ('projects', 'p1', 5, 0, '{"id":"p1","owner_id":"u","name":"one"}'),
             ('projects', 'p2', 7, 1, NULL);
  `);
  return db;
}

/** Everything the apply writes: server states, business rows and the gate's touched rows. */
async function contents(db: SerialDatabase) {
  return {
    rows: await db.all('SELECT tbl, pk, version, deleted, base FROM ferry_rows ORDER BY tbl, pk'),
    projects: await db.all('SELECT * FROM projects ORDER BY id'),
    tasks: await db.all('SELECT * FROM tasks ORDER BY id'),
    touched: await db.all('SELECT DISTINCT tbl, pk, op FROM temp.ferry_touched ORDER BY 1, 2, 3'),
  };
}

function randomEffects(seed: number, count: number): ServerEffect[] {
  let state = seed;
  const random = () => (state = (state * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)]!;
  return Array.from({ length: count }, () => {
    const version = 1 + Math.floor(random() * 12);
    const op = random() < 0.25 ? 'delete' : 'upsert';
    if (random() < 0.5) {
      const id = pick(['p1', 'p2', 'p3']);
      const row: Row = { id, owner_id: 'u', name: pick(['one', 'two']) };
      return {
        table: 'projects',
        pk: id,
        op,
        rowVersion: version,
        row: op === 'upsert' ? row : null,
      };
    }
    const id = pick([1, 2, 3, 4]);
    // The server may send an integer key as text: the same row.
    const pk = random() < 0.3 ? String(id) : id;
    const row: Row = {
      id,
      owner_id: 'u',
      project_id: pick(['p1', 'p3', null]),
      done: random() < 0.5,
    };
    return { table: 'tasks', pk, op, rowVersion: version, row: op === 'upsert' ? row : null };
  });
}

/** As the engine applies server data: foreign keys off (the gate checks), capture off. */
const apply = { foreignKeysOff: true };

describe('applyEffectsWithoutIntent', () => {
  const open: SerialDatabase[] = [];
  afterEach(async () => {
    for (const db of open.splice(0)) await db.close();
  });

  it.each([false, true])(
    'leaves the file exactly as applying the effects one by one does (force %s)',
    async (force) => {
      const seed = Number(process.env.SEED ?? Date.now() % 1_000_000);
      for (let round = 0; round < 40; round++) {
        const effects = randomEffects(seed + round, 1 + (round % 7) * 5);
        const one = await openFile();
        const set = await openFile();
        open.push(one, set);
        const presence = { pending: false, other: false };
        let appliedOne = 0;
        await one.transaction(async (tx) => {
          await setApplying(tx, true);
          const touched = new TouchedRows(tx);
          for (const effect of effects) {
            const options = { ack: false, force, presence };
            if (await applyRowEffect(tx, ctx, effect, touched, options)) appliedOne++;
          }
        }, apply);
        const appliedSet = await set.transaction(async (tx) => {
          await setApplying(tx, true);
          return applyEffectsWithoutIntent(tx, ctx, effects, new TouchedRows(tx), force);
        }, apply);
        const where = `seed ${seed + round} (SEED=${seed} replays)`;
        expect(appliedSet, where).toBe(appliedOne);
        expect(await contents(set), where).toEqual(await contents(one));
      }
    },
  );

  it('refuses a row of a table the schema does not have, writing nothing', async () => {
    const db = await openFile();
    open.push(db);
    const before = await contents(db);
    await expect(
      db.transaction(
        (tx) =>
          applyEffectsWithoutIntent(
            tx,
            ctx,
            [{ table: 'nope', pk: 'x', op: 'upsert', rowVersion: 1, row: { id: 'x' } }],
            null,
            false,
          ),
        apply,
      ),
    ).rejects.toMatchObject({ code: 'bad_response' });
    expect(await contents(db)).toEqual(before);
  });
});

import { FerryError, type Row, type RowEffect } from '@ferry/protocol';
import type { EngineContext } from '../engine-context.js';
import type { SqlValue } from '../driver/sqlite-driver.js';
import { readRowStatesOf, writeRowStates, type Executor } from '../local/metadata.js';
import type { TableCodec } from '../local/table-codec.js';
import { rowKeyOf } from '../outbox/coalesce.js';
import { normalizeRow } from './normalize-row.js';
import { ServerRowWrites } from './server-row-writes.js';
import type { TouchedRows } from '../local/touched-rows.js';

/** A row effect of server data, as {@link applyEffectsWithoutIntent} takes it. */
export interface ServerEffect {
  readonly table: string;
  readonly pk: RowEffect['pk'];
  readonly op: 'upsert' | 'delete';
  readonly rowVersion: number;
  readonly row: Row | null;
}

/** Effects whose row states are read with one query per table. */
const CHUNK = 1_000;

/** The known server state of a row: its version and its stored copy as text (null: deleted). */
interface KnownState {
  readonly version: number;
  readonly baseJson: string | null;
}

/** What one row ends up as after the effects of a chunk that were applied. */
interface FinalRow {
  readonly codec: TableCodec;
  readonly pk: SqlValue;
  readonly version: number;
  readonly base: Row | null;
  readonly baseJson: string | null;
}

/**
 * Applies server row effects in order, as `applyRowEffect` applies them one at a time, when no
 * row of the file has local intent (no pending entry, nothing in flight, no dead letter, no
 * manual conflict: the caller checks `intentPresence`), so rule 3 of `applyRowEffect` never
 * applies. Set-based: per chunk, the known states come in one query per table, the decisions
 * (rules 1 and 2) are taken in memory in effect order, and only each row's last outcome is
 * written, with multi-row statements: its server state, its business row (upserted, or deleted
 * for a tombstone) and, for the integrity gate, every applied effect in `touched`.
 *
 * `force`: a snapshot, which replaces what the file knew (an effect is skipped only when it has
 * the known version and the same row). Returns how many effects were applied.
 */
export async function applyEffectsWithoutIntent(
  tx: Executor,
  ctx: EngineContext,
  effects: readonly ServerEffect[],
  touched: TouchedRows | null,
  force: boolean,
): Promise<number> {
  let applied = 0;
  for (let start = 0; start < effects.length; start += CHUNK) {
    const chunk = effects.slice(start, start + CHUNK).map((effect) => {
      const codec = codecOf(ctx, effect.table);
      const pk = codec.encodePk(effect.pk);
      return { effect, codec, pk, key: rowKeyOf(effect.table, pk) };
    });
    const known = await readKnownStates(tx, chunk);
    const finals = new Map<string, FinalRow>();
    const touches: { codec: TableCodec; pk: SqlValue; op: 'u' | 'd' }[] = [];
    for (const { effect, codec, pk, key } of chunk) {
      const base = effect.op === 'upsert' ? normalizeRow(codec, effect.row ?? {}) : null;
      const baseJson = base === null ? null : JSON.stringify(base);
      const state = known.get(key);
      if (state) {
        const same = force
          ? effect.rowVersion === state.version && baseJson === state.baseJson
          : effect.rowVersion <= state.version;
        if (same) continue;
      }
      known.set(key, { version: effect.rowVersion, baseJson });
      finals.set(key, { codec, pk, version: effect.rowVersion, base, baseJson });
      touches.push({ codec, pk, op: base === null ? 'd' : 'u' });
      applied++;
    }
    await writeFinals(tx, [...finals.values()]);
    await touched?.addMany(touches);
  }
  return applied;
}

function codecOf(ctx: EngineContext, table: string): TableCodec {
  const codec = ctx.codecs.get(table);
  if (!codec) {
    throw new FerryError('bad_response', `the server sent a row of unknown table "${table}"`);
  }
  return codec;
}

/** The known states of the chunk's rows, by {@link rowKeyOf}: one query per table. */
async function readKnownStates(
  tx: Executor,
  chunk: readonly { readonly codec: TableCodec; readonly pk: SqlValue }[],
): Promise<Map<string, KnownState>> {
  const byTable = new Map<string, SqlValue[]>();
  for (const { codec, pk } of chunk) {
    let pks = byTable.get(codec.table.name);
    if (!pks) byTable.set(codec.table.name, (pks = []));
    pks.push(pk);
  }
  const known = new Map<string, KnownState>();
  for (const [tbl, pks] of byTable) {
    for (const row of await readRowStatesOf(tx, tbl, pks)) {
      known.set(rowKeyOf(tbl, row.pk), { version: row.version, baseJson: row.base });
    }
  }
  return known;
}

/** Writes each row's last outcome: server state, then business rows, by table. */
async function writeFinals(tx: Executor, finals: readonly FinalRow[]): Promise<void> {
  if (finals.length === 0) return;
  await writeRowStates(
    tx,
    finals.map((f) => ({
      tbl: f.codec.table.name,
      pk: f.pk,
      version: f.version,
      baseJson: f.baseJson,
    })),
  );
  const business = new ServerRowWrites();
  for (const f of finals) business.set(f.codec, f.pk, f.base);
  await business.flush(tx);
}

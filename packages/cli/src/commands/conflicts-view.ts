/**
 * `ferry client conflicts` and the conflict lines of `status`, `sync` and `watch`, as text for
 * people: the manual conflicts waiting for the app, and the journal of values that conflict
 * policies replaced. Pure.
 *
 * @module
 */
import type { ManualConflict, SettledConflict } from '@ferry/client';

/**
 * One journal entry on one line: `#id  time  table pk  rule: what lost, and to what`.
 *
 * @example
 * // #7  2026-05-01T10:00:00.000Z  todos 6f1c0b8e  field-merge: your title "milk" → "oat milk"
 */
export function settledConflictLine(entry: SettledConflict): string {
  const where = `#${entry.id}  ${new Date(entry.at).toISOString()}  ${entry.table} ${shortPk(entry.pk)}`;
  return `${where}  ${entry.rule}: ${whatLost(entry)}`;
}

/** The lines of `ferry client conflicts`. */
export function formatConflicts(
  open: readonly ManualConflict[],
  settled: readonly SettledConflict[],
): string[] {
  const lines: string[] = [];
  if (open.length === 0) lines.push('waiting for you: none');
  else {
    lines.push(`waiting for you (${open.length}): the local row is kept and not pushed`);
    for (const c of open) lines.push(`  #${c.id}  ${c.table} ${shortPk(c.pk)}  ${c.reason}`);
  }
  if (settled.length === 0) lines.push('settled by a policy: none');
  else {
    lines.push(
      `settled by a policy (${settled.length}, newest first): the value that lost → the one kept`,
    );
    for (const entry of settled) lines.push(`  ${settledConflictLine(entry)}`);
  }
  return lines;
}

function whatLost(entry: SettledConflict): string {
  const whose = entry.loser === 'local' ? 'your' : "the server's";
  if (entry.lost === null) {
    return `${whose} delete lost; the row stays (${values(entry.won)})`;
  }
  if (entry.won === null) return `${whose} row (${values(entry.lost)}) lost to a delete`;
  const lost = entry.lost;
  const won = entry.won;
  return `${whose} ${entry.columns
    .map((c) => `${c} ${show(lost[c])} → ${show(won[c])}`)
    .join(', ')}`;
}

function values(row: Record<string, unknown> | null): string {
  if (row === null) return '';
  return Object.entries(row)
    .map(([column, value]) => `${column} ${show(value)}`)
    .join(', ');
}

function show(value: unknown): string {
  return value === undefined ? 'null' : JSON.stringify(value);
}

function shortPk(pk: string | number): string {
  return typeof pk === 'string' ? pk.slice(0, 8) : String(pk);
}

import type { ValidationError } from '@ferry/protocol';
import type { NormalizedChange } from '../../core/validate-changes.js';

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * Values that pass the protocol's checks but that PostgreSQL cannot store: text holding NUL
 * characters or unpaired UTF-16 surrogates (PostgreSQL text is UTF-8 without NUL), and
 * timestamps in year 0 (PostgreSQL has no year zero) or with nanoseconds (PostgreSQL keeps
 * microseconds: a value it would round is refused, not cut). Reported as `type_mismatch`, so such a
 * push gets a 422 instead of failing inside the database.
 */
export function pgValueErrors(changes: readonly NormalizedChange[]): ValidationError[] {
  const errors: ValidationError[] = [];
  for (const change of changes) {
    const report = (column: string, message: string) =>
      errors.push({
        index: change.index,
        table: change.table.name,
        pk: change.pk,
        code: 'type_mismatch',
        column,
        message: `${column} ${message}`,
      });
    if (typeof change.pk === 'string' && !storableText(change.pk)) {
      report(change.table.primaryKey, unstorableText);
      continue;
    }
    if (change.op !== 'upsert' || !change.row) continue;
    for (const column of change.table.clientColumns) {
      const value = change.row[column.name];
      if (value === null || value === undefined) continue;
      if (column.type === 'text' && !storableText(value as string)) {
        report(column.name, unstorableText);
      } else if (column.type === 'json' && !storableJson(value, 0)) {
        report(column.name, unstorableText);
      } else if (column.type === 'timestamp' && (value as string).startsWith('0000-')) {
        report(column.name, 'must not be in year 0000, which PostgreSQL does not have');
      } else if (column.type === 'timestamp' && hasNanoseconds(value as string)) {
        report(
          column.name,
          'has nanoseconds; this server stores timestamps in PostgreSQL, which keeps microseconds',
        );
      }
    }
  }
  return errors;
}

const unstorableText = 'must not contain NUL characters or unpaired UTF-16 surrogates';

function storableText(value: string): boolean {
  return !value.includes('\u0000') && !LONE_SURROGATE.test(value);
}

function storableJson(value: unknown, depth: number): boolean {
  if (depth > 64) return true;
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.every((item) => storableJson(item, depth + 1));
  if (typeof value === 'object' && value !== null) {
    return Object.entries(value).every(
      ([key, item]) => storableText(key) && storableJson(item, depth + 1),
    );
  }
  return true;
}

/** A canonical timestamp with 9 fraction digits has a part below a microsecond. */
function hasNanoseconds(value: string): boolean {
  return value.length === 30;
}

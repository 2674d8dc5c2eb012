/**
 * The app's conflict policy for lists and todos: merge field by field, and where both sides
 * changed the same field, ask the person (a manual conflict in the Conflicts panel) instead of
 * letting a rule pick. Pure.
 *
 * @module
 */
import { fieldMerge, mergeFields, type ConflictResolver } from '@ferry/protocol';

export const mergeOrAsk: ConflictResolver = (local, base, server, context) => {
  if (local !== null && server !== null) {
    const { both } = mergeFields(context.table, local, base, server);
    if (both.length > 0) {
      return { kind: 'manual', reason: `changed on both sides: ${both.join(', ')}` };
    }
  }
  return fieldMerge(local, base, server, context);
};

import type { Schema } from '@ferry/protocol';
import { wireChangeOf, type FrozenBundle } from '../local/metadata.js';

/** Stands for the changes while the envelope is serialised; never sent. */
const CHANGES = '\u0000ferry:changes\u0000';

/**
 * The JSON body of a push: `envelope(changes)` serialised, with the bundle's changes in wire
 * form. The same bytes as `JSON.stringify(envelope(bundle.changes.map((c) => wireChangeOf(c, schema))))`; a just
 * frozen bundle brings its changes' JSON along, which is spliced in instead of serialising
 * every row again.
 */
export function pushBodyJson(
  bundle: FrozenBundle,
  schema: Pick<Schema, 'table'>,
  envelope: (changes: unknown) => Record<string, unknown>,
): string {
  const wire = bundle.wire;
  if (wire === undefined || wire.length !== bundle.changes.length) {
    return JSON.stringify(envelope(bundle.changes.map((c) => wireChangeOf(c, schema))));
  }
  return JSON.stringify(envelope(CHANGES)).replace(
    JSON.stringify(CHANGES),
    () => `[${wire.join(',')}]`,
  );
}

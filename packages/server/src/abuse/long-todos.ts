import { randomUUID } from 'node:crypto';
import { pushBody, todo } from '../test-support/harness.js';

/**
 * Push bodies that give a user one list and `rows` - 1 todos with long titles (about 650 bytes a
 * snapshot line: more than socket buffers and a client's own buffer hold, so an unread snapshot
 * stream stalls), in bundles of at most 10,000 changes from one new source. The abuse tests seed
 * the abusing user with them.
 */
export function longTodoPushBodies(rows: number): ReturnType<typeof pushBody>[] {
  const list = todo.list();
  const source = randomUUID();
  const title = 't'.repeat(480);
  const bodies: ReturnType<typeof pushBody>[] = [];
  let left = rows - 1;
  for (let bundle = 1; bundle === 1 || left > 0; bundle++) {
    const count = Math.min(left, 9_999);
    left -= count;
    const items = Array.from({ length: count }, () =>
      todo.item(list.pk as string, undefined, title),
    );
    bodies.push(pushBody(source, bundle, bundle === 1 ? [list, ...items] : items));
  }
  return bodies;
}

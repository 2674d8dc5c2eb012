import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { rowsOf, serverRows, startHarness, uuid, type Harness } from '../support/ferry-harness.js';

interface SentChange {
  table: string;
  pk: string;
  op: string;
}

/** A fetch that records the changes of every push it carries. */
function recordingFetch(sent: SentChange[][]): typeof fetch {
  return (input, init) => {
    if (typeof init?.body === 'string') {
      const body = JSON.parse(init.body) as {
        push?: { changes: SentChange[] } | null;
        changes?: SentChange[];
      };
      const changes = body.push?.changes ?? body.changes;
      if (changes) sent.push(changes.map(({ table, pk, op }) => ({ table, pk, op })));
    }
    return fetch(input, init);
  };
}

describe('bundles', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
  });

  it('a backlog larger than the limit goes out as several bundles in order, never splitting a write', async () => {
    h = await startHarness({ server: { limits: { maxChanges: 10 } } });
    const sent: SentChange[][] = [];
    const a = await h.client('a', 'alice', {
      limits: { maxChanges: 10 },
      fetch: recordingFetch(sent),
    });
    await a.sync();
    const writes: string[][] = [];
    for (let w = 0; w < 7; w++) {
      const ids = [uuid(), uuid(), uuid()];
      writes.push(ids);
      await a.write((tx) =>
        ids.forEach((id, i) => tx.insert('lists', { id, name: `w${w} #${i}` })),
      );
    }
    const report = await a.sync();
    expect(report.bundlesPushed).toBe(3);
    expect(sent.map((b) => b.length)).toEqual([9, 9, 3]);
    const writeOf = new Map(writes.flatMap((ids, w) => ids.map((id) => [id, w] as const)));
    const bundlesOfWrite = new Map<number, Set<number>>();
    sent.forEach((bundle, b) =>
      bundle.forEach((change) => {
        const w = writeOf.get(change.pk)!;
        bundlesOfWrite.set(w, (bundlesOfWrite.get(w) ?? new Set()).add(b));
      }),
    );
    for (const bundles of bundlesOfWrite.values()) expect(bundles.size).toBe(1);
    // Writes go out in the order they were made.
    expect(sent.flat().map((c) => writeOf.get(c.pk))).toEqual(
      [...sent.flat().map((c) => writeOf.get(c.pk))].sort((x, y) => x! - y!),
    );
    expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
    expect(await rowsOf(a, 'lists')).toHaveLength(21);
  });

  it('a 413 from a server with smaller limits shrinks the bundle until it fits, losing nothing', async () => {
    h = await startHarness({ server: { limits: { maxChanges: 4 } } });
    const sent: SentChange[][] = [];
    const a = await h.client('a', 'alice', { fetch: recordingFetch(sent) });
    await a.sync();
    await a.write((tx) => {
      for (let i = 0; i < 12; i++) tx.insert('lists', { id: uuid(), name: `l${i}` });
    });
    await a.sync();
    expect(sent[0]).toHaveLength(12);
    expect(Math.max(...sent.slice(-3).map((b) => b.length))).toBeLessThanOrEqual(4);
    expect(await serverRows(h, 'alice', 'lists')).toHaveLength(12);
    expect(await rowsOf(a, 'lists')).toEqual(await serverRows(h, 'alice', 'lists'));
    expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: null });
  });

  it('behind a proxy whose body limit is smaller than the server’s, the proxy’s own 413 page shrinks the bundle too, and a single change it never lets through is dead-lettered, not retried forever', async () => {
    h = await startHarness();
    const proxy = await startBodyLimitProxy(h.url, 800);
    try {
      const sent: SentChange[][] = [];
      const a = await h.client('a', 'alice', { url: proxy.url, fetch: recordingFetch(sent) });
      await a.sync();
      await a.write((tx) => {
        for (let i = 0; i < 12; i++) tx.insert('lists', { id: uuid(), name: `list ${i}` });
      });
      await a.sync();
      expect(sent[0]).toHaveLength(12);
      expect(proxy.refused).toBeGreaterThan(0);
      expect(await serverRows(h, 'alice', 'lists')).toHaveLength(12);

      const big = uuid();
      await a.write((tx) => tx.insert('lists', { id: big, name: 'x'.repeat(190) }));
      await a.write((tx) => tx.update('lists', big, { name: 'y'.repeat(190) }));
      await a.write((tx) =>
        tx.insert('todos', { id: uuid(), list_id: big, title: 't'.repeat(500) }),
      );
      await a.sync();
      const letters = await a.deadLetters();
      expect(letters).toEqual([
        expect.objectContaining({ table: 'todos', code: 'payload_too_large' }),
      ]);
      expect((await serverRows(h, 'alice', 'lists')).map((r) => r['name'])).toContain(
        'y'.repeat(190),
      );
      expect(await a.readStatus()).toMatchObject({ pending: 0, inFlight: null });
    } finally {
      await proxy.close();
    }
  });

  it('orders upserts parents first and deletes children first, whatever order the write used', async () => {
    h = await startHarness();
    const sent: SentChange[][] = [];
    const a = await h.client('a', 'alice', { fetch: recordingFetch(sent) });
    await a.sync();
    const listId = uuid();
    const todoId = uuid();
    await a.write((tx) => {
      tx.insert('todos', { id: todoId, list_id: listId, title: 'child first' });
      tx.insert('lists', { id: listId, name: 'parent second' });
    });
    await a.sync();
    expect(sent[0]!.map((c) => `${c.op} ${c.table}`)).toEqual(['upsert lists', 'upsert todos']);
    await a.write((tx) => {
      tx.delete('lists', listId);
    });
    await a.sync();
    // The local cascade captured the todo's delete too; it goes first.
    expect(sent[1]!.map((c) => `${c.op} ${c.table}`)).toEqual(['delete todos', 'delete lists']);
    expect(await serverRows(h, 'alice', 'todos')).toEqual([]);
    expect(await rowsOf(a, 'lists')).toEqual([]);
  });

  it('writes that cancel out before a push send nothing', async () => {
    h = await startHarness();
    const sent: SentChange[][] = [];
    const a = await h.client('a', 'alice', { fetch: recordingFetch(sent) });
    await a.sync();
    const listId = uuid();
    await a.write((tx) => tx.insert('lists', { id: listId, name: 'a' }));
    await a.write((tx) => tx.update('lists', listId, { name: 'b' }));
    await a.write((tx) => tx.delete('lists', listId));
    expect((await a.readStatus()).pending).toBe(0);
    const report = await a.sync();
    expect(report.pushed).toBe(0);
    expect(sent).toEqual([]);
  });
});

/**
 * A reverse proxy with a body limit of its own, as nginx's `client_max_body_size`: a larger
 * request gets its 413 page (HTML, not a Ferry error body); the rest go through to `target`.
 */
async function startBodyLimitProxy(
  target: string,
  maxBodyBytes: number,
): Promise<{ url: string; refused: number; close(): Promise<void> }> {
  const state = { refused: 0 };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks);
      if (body.length > maxBodyBytes) {
        state.refused++;
        response.writeHead(413, { 'content-type': 'text/html' });
        response.end('<html><body><h1>413 Request Entity Too Large</h1></body></html>');
        return;
      }
      const headers = new Headers();
      for (const [name, value] of Object.entries(request.headers)) {
        if (typeof value === 'string' && name !== 'host' && name !== 'content-length') {
          headers.set(name, value);
        }
      }
      fetch(`${target}${request.url ?? '/'}`, {
        method: request.method ?? 'GET',
        headers,
        ...(body.length > 0 ? { body } : {}),
      }).then(
        async (answer) => {
          const text = Buffer.from(await answer.arrayBuffer());
          response.writeHead(answer.status, {
            'content-type': answer.headers.get('content-type') ?? 'application/json',
          });
          response.end(text);
        },
        () => {
          response.writeHead(502);
          response.end();
        },
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    get refused() {
      return state.refused;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

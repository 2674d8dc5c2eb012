import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { head, rawConnect } from '../abuse/raw-http.js';
import { listenNode } from './node-adapter.js';

const ok = async () => new Response('ok');

describe('listenNode', () => {
  it(
    'closes gracefully when a client hung up before its streamed answer started',
    { timeout: 10_000 },
    async () => {
      let clientGone!: () => void;
      const gone = new Promise<void>((resolve) => (clientGone = resolve));
      const chunk = new Uint8Array(1024 * 1024);
      const listener = await listenNode(
        async () => {
          // The client disconnects while the handler still works (a lost response).
          await gone;
          await new Promise((resolve) => setTimeout(resolve, 20));
          let sent = 0;
          const body = new ReadableStream<Uint8Array>({
            pull(controller) {
              if (sent++ < 64) controller.enqueue(chunk);
              else controller.close();
            },
          });
          return new Response(body, { status: 200 });
        },
        { port: 0 },
      );

      const socket = connect(listener.port, '127.0.0.1');
      await new Promise<void>((resolve) => socket.once('connect', resolve));
      socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
      await new Promise((resolve) => setTimeout(resolve, 20));
      socket.destroy();
      clientGone();

      // Before the fix this never resolved: the answer waited for a 'drain' of a dead socket.
      await expect(listener.close()).resolves.toBeUndefined();
    },
  );

  it(
    'keeps an idle keep-alive connection open longer than Node’s old 5 s default: the next request on it is served',
    { timeout: 20_000 },
    async () => {
      const listener = await listenNode(ok, { port: 0 });
      try {
        const connection = await rawConnect(listener.url);
        await connection.write(head('GET', '/one'));
        const first = await connection.answer();
        expect(first.status).toBe(200);
        expect(first.headers['keep-alive']).toBe('timeout=65');
        // Idle for longer than Node's default keep-alive (5 s): clients reuse such sockets.
        await new Promise((resolve) => setTimeout(resolve, 5_500));
        await connection.write(head('GET', '/two'));
        expect((await connection.answer()).status).toBe(200);
        connection.destroy();
      } finally {
        await listener.close();
      }
    },
  );

  it('closes an idle keep-alive connection after keepAliveTimeoutMs', async () => {
    const listener = await listenNode(ok, { port: 0, keepAliveTimeoutMs: 200 });
    try {
      const connection = await rawConnect(listener.url);
      await connection.write(head('GET', '/one'));
      expect((await connection.answer()).headers.connection).toBe('keep-alive');
      // The server hangs up by itself; the test fails by its timeout if it never does.
      await connection.closed;
    } finally {
      await listener.close();
    }
  });

  it('aborts the request’s signal when the client hangs up before the handler returns, and cancels the answer', async () => {
    let aborted!: () => void;
    const signalled = new Promise<void>((resolve) => (aborted = resolve));
    let cancelled!: () => void;
    const released = new Promise<void>((resolve) => (cancelled = resolve));
    let entered!: () => void;
    const inHandler = new Promise<void>((resolve) => (entered = resolve));
    const listener = await listenNode(
      async (request) => {
        request.signal.addEventListener('abort', () => aborted());
        entered();
        await signalled;
        return new Response(
          new ReadableStream({ pull: (c) => c.enqueue(new Uint8Array(1024)), cancel: cancelled }),
        );
      },
      { port: 0 },
    );
    try {
      const connection = await rawConnect(listener.url);
      await connection.write(head('GET', '/stream'));
      await inHandler;
      connection.destroy();
      // Both fail by the test's timeout when they never happen.
      await signalled;
      await released;
    } finally {
      await listener.close();
    }
  });
});

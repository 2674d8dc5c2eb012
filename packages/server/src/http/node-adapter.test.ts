import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { listenNode } from './node-adapter.js';

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
});

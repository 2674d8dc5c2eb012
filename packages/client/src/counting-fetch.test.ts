import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { countingFetch, utf8Length } from './counting-fetch.js';

describe('the counting fetch', () => {
  it.each(['', 'ascii', 'héllo', '€uro', '😀 emoji', 'broken \ud800 surrogate'])(
    'measures %j as its UTF-8 encoding does',
    (text) => {
      expect(utf8Length(text)).toBe(new TextEncoder().encode(text).byteLength);
    },
  );

  it('counts bodies sent and received over HTTP, with and without a content-length', async () => {
    const server = createServer((request, response) => {
      request.resume();
      request.on('end', () => {
        if (request.url === '/chunked') {
          response.write('a'.repeat(1000));
          response.end('b'.repeat(24));
        } else {
          response.setHeader('content-length', '5');
          response.end('hello');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    let sent = 0;
    let received = 0;
    const counted = countingFetch(fetch, {
      sent: (n) => (sent += n),
      received: (n) => (received += n),
    });
    try {
      expect(await (await counted(`${url}/fixed`, { method: 'POST', body: 'héllo' })).text()).toBe(
        'hello',
      );
      expect({ sent, received }).toEqual({ sent: 6, received: 5 });
      const chunked = await counted(`${url}/chunked`);
      expect(chunked.status).toBe(200);
      expect((await chunked.text()).length).toBe(1024);
      expect(received).toBe(5 + 1024);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

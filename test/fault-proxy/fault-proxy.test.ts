import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';

/** A real upstream that counts the requests whose whole body it received. */
let upstream: Server;
let completed: string[];
let proxy: FaultProxy;

beforeEach(async () => {
  completed = [];
  upstream = createServer((req, res) => {
    if (req.url === '/stream') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: poke\ndata: {"bundleSeq":1}\n\n');
      setTimeout(() => res.end('event: poke\ndata: {"bundleSeq":2}\n\n'), 50);
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString();
      completed.push(body);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ echo: body, padding: 'x'.repeat(10_000) }));
    });
  });
  await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
  proxy = await startFaultProxy({
    target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
  });
});

afterEach(async () => {
  await proxy.close();
  upstream.closeAllConnections();
  await new Promise<void>((resolve) => upstream.close(() => resolve()));
});

const post = (body: string) =>
  fetch(`${proxy.url}/echo`, { method: 'POST', body }).then((r) => r.json());

describe('the fault proxy', () => {
  it('passes a request through untouched when no fault is planned', async () => {
    await expect(post('hello')).resolves.toMatchObject({ echo: 'hello' });
    expect(completed).toEqual(['hello']);
    expect(proxy.stats.requests).toBe(1);
  });

  it('loses a response after the upstream handled the request', async () => {
    proxy.plan('lose-response');
    await expect(post('committed')).rejects.toThrow();
    expect(completed).toEqual(['committed']);
    expect(proxy.stats['lose-response']).toBe(1);
  });

  it('delivers a duplicated request twice and answers once', async () => {
    proxy.plan('duplicate-request');
    await expect(post('twice')).resolves.toMatchObject({ echo: 'twice' });
    expect(completed).toEqual(['twice', 'twice']);
  });

  it('resets a request mid-body so the upstream never sees it whole', async () => {
    proxy.plan('reset-request');
    await expect(post('x'.repeat(100_000))).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(completed).toEqual([]);
  });

  it('resets a response mid-body after the status line', async () => {
    proxy.plan('reset-response');
    const response = await fetch(`${proxy.url}/echo`, { method: 'POST', body: 'cut' });
    expect(response.status).toBe(200);
    await expect(response.text()).rejects.toThrow();
    expect(completed).toEqual(['cut']);
  });

  it('streams a response through without waiting for its end', async () => {
    const response = await fetch(`${proxy.url}/stream`);
    const reader = response.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toContain('"bundleSeq":1');
    await reader.cancel();
  });

  it('draws faults from its random source by rate, reproducibly', async () => {
    const draws = [0.9, 0.9, 0.1, 0.9, 0.9]; // the third draw is lose-response
    let i = 0;
    await proxy.close();
    proxy = await startFaultProxy({
      target: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
      rates: {
        loseResponse: 0.5,
        resetRequest: 0.5,
        resetResponse: 0.5,
        duplicateRequest: 0.5,
        latency: 0.5,
      },
      random: () => draws[i++ % draws.length]!,
    });
    await expect(post('seeded')).rejects.toThrow();
    expect(proxy.stats).toMatchObject({
      requests: 1,
      'lose-response': 1,
      'reset-request': 0,
      'duplicate-request': 0,
    });
  });
});
